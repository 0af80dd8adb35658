// PLACEHOLDER: replaced by the page's implementation.
export default function Members() {
  return <h1>Members</h1>;
}
