// Confirmation for destructive actions, in a native modal <dialog> (focus is
// trapped and Escape cancels, as the platform does it).

import { useEffect, useRef } from 'preact/hooks';
import { Store, useStore } from '../store.js';

interface ConfirmRequest {
  title: string;
  message: string;
  confirmLabel: string;
  resolve(answer: boolean): void;
}

const pending = new Store<ConfirmRequest | undefined>(undefined);

export function confirmAction(title: string, message: string, confirmLabel: string): Promise<boolean> {
  pending.value?.resolve(false);
  return new Promise((resolve) => pending.set({ title, message, confirmLabel, resolve }));
}

export function ConfirmHost() {
  const request = useStore(pending);
  const dialog = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const el = dialog.current;
    if (!el) return;
    if (request && !el.open) el.showModal();
    if (!request && el.open) el.close();
  }, [request]);
  const answer = (value: boolean) => {
    request?.resolve(value);
    pending.set(undefined);
  };
  return (
    <dialog
      ref={dialog}
      class="confirm"
      aria-labelledby="confirm-title"
      onCancel={(e) => {
        e.preventDefault();
        answer(false);
      }}
    >
      {request && (
        <form
          method="dialog"
          onSubmit={(e) => {
            e.preventDefault();
            answer(true);
          }}
        >
          <h2 id="confirm-title">{request.title}</h2>
          <p>{request.message}</p>
          <div class="row end">
            <button type="button" onClick={() => answer(false)} autofocus>
              Cancel
            </button>
            <button type="submit" class="danger">
              {request.confirmLabel}
            </button>
          </div>
        </form>
      )}
    </dialog>
  );
}
