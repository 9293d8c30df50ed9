// Creating or renaming an application, and enabling or disabling it (confirmed).
import {
  type ApplicationFieldsFragment,
  CreateApplicationDocument,
  SetApplicationEnabledDocument,
  UpdateApplicationDocument,
} from '@keygate/sdk/documents';
import { useState } from 'react';
import { useMutation } from 'urql';
import { useLocation } from 'wouter';
import { type FormErrors, failureOf, inOneLine, NO_ERRORS } from '../errors.ts';
import { Button, Field, SubmitForm } from '../ui/controls.tsx';
import { Confirm, Sheet } from '../ui/dialogs.tsx';
import { Alert } from '../ui/feedback.tsx';

export function ApplicationForm({
  isOpen,
  onClose,
  application,
}: {
  isOpen: boolean;
  onClose: () => void;
  /** Renaming this one; creating a new one without it. */
  application?: ApplicationFieldsFragment;
}) {
  return (
    <Sheet
      title={application ? `Rename ${application.name}` : 'Create an application'}
      isOpen={isOpen}
      onClose={onClose}
    >
      <ApplicationFields application={application} onDone={onClose} />
    </Sheet>
  );
}

function ApplicationFields({ application, onDone }: { application?: ApplicationFieldsFragment; onDone: () => void }) {
  const [name, setName] = useState(application?.name ?? '');
  const [description, setDescription] = useState(application?.description ?? '');
  const [errors, setErrors] = useState<FormErrors>(NO_ERRORS);
  const [created, create] = useMutation(CreateApplicationDocument);
  const [updated, update] = useMutation(UpdateApplicationDocument);
  const [, navigate] = useLocation();

  async function submit() {
    setErrors(NO_ERRORS);
    const input = { name, description: description.trim() === '' ? null : description };
    if (application) {
      const result = await update({ input: { id: application.id, ...input } });
      const failed = failureOf(result.error, result.data?.updateApplication);
      if (failed) return setErrors(failed);
      onDone();
    } else {
      const result = await create({ input }, { additionalTypenames: ['Application'] });
      const payload = result.data?.createApplication;
      const failed = failureOf(result.error, payload);
      if (failed) return setErrors(failed);
      onDone();
      if (payload?.__typename === 'ApplicationPayload') navigate(`/applications/${payload.application.id}`);
    }
  }

  return (
    <SubmitForm onSubmit={submit}>
      <Field label="Name" value={name} onChange={setName} error={errors.fields.name} isRequired autoFocus />
      <Field
        label="Description (optional)"
        value={description}
        onChange={setDescription}
        error={errors.fields.description}
        multiline
      />
      {errors.form ? <Alert>{errors.form}</Alert> : null}
      <div className="dialog-actions">
        <Button onPress={onDone}>Cancel</Button>
        <Button type="submit" variant="primary" isPending={created.fetching || updated.fetching}>
          {application ? 'Save' : 'Create application'}
        </Button>
      </div>
    </SubmitForm>
  );
}

export function EnableApplication({
  isOpen,
  onClose,
  application,
}: {
  isOpen: boolean;
  onClose: () => void;
  application: ApplicationFieldsFragment;
}) {
  const [, setEnabled] = useMutation(SetApplicationEnabledDocument);
  const enable = !application.enabled;
  return (
    <Confirm
      title={`${enable ? 'Enable' : 'Disable'} ${application.name}?`}
      isOpen={isOpen}
      onClose={onClose}
      confirmLabel={enable ? 'Enable application' : 'Disable application'}
      danger={!enable}
      action={async () => {
        const result = await setEnabled({ input: { id: application.id, enabled: enable } });
        return inOneLine(failureOf(result.error, result.data?.setApplicationEnabled));
      }}
    >
      {enable ? (
        <p>Its keys verify again, each by its own status.</p>
      ) : (
        <p>
          None of its keys will verify until you enable it again, on every Keygate instance at once. The keys keep their
          own status.
        </p>
      )}
    </Confirm>
  );
}
