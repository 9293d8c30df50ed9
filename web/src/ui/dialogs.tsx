// Modal dialogs (React Aria: focus trapped and restored, Escape closes, the rest inert).
import { type ReactNode, useEffect, useState } from 'react';
import { Dialog, Heading, Modal, ModalOverlay } from 'react-aria-components';
import { Button } from './controls.tsx';
import { Alert } from './feedback.tsx';

export function Sheet({
  title,
  isOpen,
  onClose,
  children,
  dismissable = true,
  role,
}: {
  title: string;
  isOpen: boolean;
  onClose: () => void;
  children: ReactNode;
  /** False where closing by accident would lose something (a secret shown once). */
  dismissable?: boolean;
  role?: 'dialog' | 'alertdialog';
}) {
  return (
    <ModalOverlay
      className="overlay"
      isOpen={isOpen}
      onOpenChange={(open) => !open && onClose()}
      isDismissable={dismissable}
      isKeyboardDismissDisabled={!dismissable}
    >
      <Modal className="modal">
        <Dialog className="dialog" role={role}>
          <div className="dialog-head">
            <Heading slot="title" className="dialog-title">
              {title}
            </Heading>
            {/* Where closing would lose nothing, a close button as well as Escape and a click outside. */}
            {dismissable ? (
              <Button variant="quiet" className="dialog-close" aria-label="Close" onPress={onClose}>
                ×
              </Button>
            ) : null}
          </div>
          {children}
        </Dialog>
      </Modal>
    </ModalOverlay>
  );
}

/**
 * "Are you sure?" before a change: names what happens, with the action's own verb on the
 * button. `action` makes the change and answers what went wrong, or null: then it closes.
 */
export function Confirm({
  title,
  isOpen,
  onClose,
  action,
  confirmLabel,
  children,
  danger = true,
}: {
  title: string;
  isOpen: boolean;
  onClose: () => void;
  action: () => Promise<string | null>;
  confirmLabel: string;
  children: ReactNode;
  danger?: boolean;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  // Asked afresh each time it opens: last time's problem is not this time's.
  useEffect(() => {
    if (isOpen) setError(null);
  }, [isOpen]);
  async function confirm() {
    setBusy(true);
    try {
      const problem = await action();
      setError(problem);
      if (problem === null) onClose();
    } finally {
      setBusy(false);
    }
  }
  return (
    <Sheet title={title} isOpen={isOpen} onClose={onClose} role="alertdialog">
      <div className="dialog-body">{children}</div>
      {error ? <Alert>{error}</Alert> : null}
      <div className="dialog-actions">
        <Button onPress={onClose}>Cancel</Button>
        <Button variant={danger ? 'danger' : 'primary'} onPress={() => void confirm()} isPending={busy}>
          {confirmLabel}
        </Button>
      </div>
    </Sheet>
  );
}
