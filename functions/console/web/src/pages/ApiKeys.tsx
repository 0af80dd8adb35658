// PLACEHOLDER: replaced by the page's implementation.
export default function ApiKeys() {
  return <h1>ApiKeys</h1>;
}
