// PLACEHOLDER: replaced by the page's implementation.
export default function Usage() {
  return <h1>Usage</h1>;
}
