// PLACEHOLDER: replaced by the page's implementation.
export default function Licenses() {
  return <h1>Licenses</h1>;
}
