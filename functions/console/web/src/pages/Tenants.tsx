// PLACEHOLDER: replaced by the page's implementation.
export default function Tenants() {
  return <h1>Tenants</h1>;
}
