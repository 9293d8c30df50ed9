// Modal dialogs (React Aria: focus trapped and restored, Escape closes, the rest inert).
import type { ReactNode } from 'react';
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
          <Heading slot="title" className="dialog-title">
            {title}
          </Heading>
          {children}
        </Dialog>
      </Modal>
    </ModalOverlay>
  );
}

/** "Are you sure?": names what happens, and the action's own verb on the button. */
export function Confirm({
  title,
  isOpen,
  onClose,
  onConfirm,
  confirmLabel,
  children,
  busy,
  error,
  danger = true,
}: {
  title: string;
  isOpen: boolean;
  onClose: () => void;
  onConfirm: () => void;
  confirmLabel: string;
  children: ReactNode;
  busy: boolean;
  error: string | null;
  danger?: boolean;
}) {
  return (
    <Sheet title={title} isOpen={isOpen} onClose={onClose} role="alertdialog">
      <div className="dialog-body">{children}</div>
      {error ? <Alert>{error}</Alert> : null}
      <div className="dialog-actions">
        <Button onPress={onClose}>Cancel</Button>
        <Button variant={danger ? 'danger' : 'primary'} onPress={onConfirm} isPending={busy}>
          {confirmLabel}
        </Button>
      </div>
    </Sheet>
  );
}
