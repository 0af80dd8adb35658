// PLACEHOLDER: replaced by the page's implementation.
export default function LicenseDetail() {
  return <h1>LicenseDetail</h1>;
}
