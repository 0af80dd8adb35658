// Cursor paging: the API gives next_cursor; the console keeps the cursors
// it has passed so Previous works too.
import { useState } from "react";

export function usePager() {
  const [stack, setStack] = useState<string[]>([]);
  const cursor = stack[stack.length - 1];
  return {
    cursor,
    page: stack.length + 1,
    next: (c: string) => setStack((s) => [...s, c]),
    previous: () => setStack((s) => s.slice(0, -1)),
    reset: () => setStack([]),
  };
}

export function Pager(props: { page: number; nextCursor: string | null | undefined; onNext(c: string): void; onPrevious(): void }) {
  if (props.page === 1 && !props.nextCursor) return null;
  return (
    <nav className="pager" aria-label="Pages">
      <button type="button" onClick={props.onPrevious} disabled={props.page === 1}>
        Previous
      </button>
      <span>Page {props.page}</span>
      <button type="button" onClick={() => props.nextCursor && props.onNext(props.nextCursor)} disabled={!props.nextCursor}>
        Next
      </button>
    </nav>
  );
}
