// PLACEHOLDER: replaced by the page's implementation.
export default function Audit() {
  return <h1>Audit</h1>;
}
