// A labelled control whose <label> names it by its for attribute, not by
// wrapping it: the control's accessible name is then the label's words
// alone (a wrapped <select> would add its options' text to its name).
import { useId, type ReactNode } from "react";

export function Field({ label, children }: { label: string; children: (id: string) => ReactNode }) {
  const id = useId();
  return (
    <div className="insights-field">
      <label htmlFor={id}>{label}</label>
      {children(id)}
    </div>
  );
}
