// PLACEHOLDER: replaced by the page's implementation.
export default function Overview() {
  return <h1>Overview</h1>;
}
