// PLACEHOLDER: replaced by the page's implementation.
export default function Repositories() {
  return <h1>Repositories</h1>;
}
