// PLACEHOLDER: replaced by the page's implementation.
export default function Workstations() {
  return <h1>Workstations</h1>;
}
