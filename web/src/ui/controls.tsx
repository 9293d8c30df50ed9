// The dashboard's controls: React Aria Components with the dashboard's look. React Aria
// carries focus management, labels, keyboard interaction and screen-reader wiring.
import type { ReactNode } from 'react';
import {
  Button as AriaButton,
  type ButtonProps,
  Checkbox,
  FieldError,
  Form,
  Input,
  Label,
  ListBox,
  ListBoxItem,
  Popover,
  Select,
  SelectValue,
  Text,
  TextArea,
  TextField,
} from 'react-aria-components';

type Variant = 'primary' | 'secondary' | 'danger' | 'quiet';

export function Button({ variant = 'secondary', className, ...props }: ButtonProps & { variant?: Variant }) {
  return <AriaButton {...props} className={`button button-${variant}${className ? ` ${className}` : ''}`} />;
}

/** A form whose submission (its button, or Enter in a field) runs `onSubmit` in place. */
export function SubmitForm({ onSubmit, children }: { onSubmit: () => unknown; children: ReactNode }) {
  return (
    <Form
      onSubmit={(event) => {
        event.preventDefault();
        void onSubmit();
      }}
    >
      {children}
    </Form>
  );
}

interface FieldProps {
  label: string;
  value: string;
  onChange: (value: string) => void;
  /** The server's message for this field (a ValidationError issue), shown under it. */
  error?: string | undefined;
  description?: ReactNode;
  isRequired?: boolean;
  type?: 'text' | 'url' | 'datetime-local' | 'number' | 'search';
  placeholder?: string;
  autoFocus?: boolean;
  multiline?: boolean;
  name?: string;
  inputClassName?: string;
}

export function Field({
  label,
  error,
  description,
  multiline,
  placeholder,
  type,
  inputClassName,
  ...props
}: FieldProps) {
  return (
    <TextField
      {...props}
      className="field"
      isInvalid={error !== undefined}
      validationBehavior="aria"
      type={multiline ? undefined : (type ?? 'text')}
    >
      <Label>{label}</Label>
      {multiline ? (
        <TextArea placeholder={placeholder} className={inputClassName} rows={4} />
      ) : (
        <Input placeholder={placeholder} className={inputClassName} />
      )}
      {description ? (
        <Text slot="description" className="field-description">
          {description}
        </Text>
      ) : null}
      <FieldError className="field-error">{error}</FieldError>
    </TextField>
  );
}

export function Choice<T extends string>({
  label,
  value,
  onChange,
  options,
  error,
  description,
}: {
  label: string;
  value: T;
  onChange: (value: T) => void;
  options: readonly { id: T; label: string }[];
  error?: string | undefined;
  /** What the choice means, under the control. */
  description?: ReactNode;
}) {
  return (
    <Select
      className="field"
      selectedKey={value}
      onSelectionChange={(key) => onChange(key as T)}
      isInvalid={error !== undefined}
      validationBehavior="aria"
    >
      <Label>{label}</Label>
      <AriaButton className="select-button">
        <SelectValue />
        <span aria-hidden="true">▾</span>
      </AriaButton>
      {description ? (
        <Text slot="description" className="field-description">
          {description}
        </Text>
      ) : null}
      <FieldError className="field-error">{error}</FieldError>
      <Popover className="popover">
        <ListBox className="listbox">
          {options.map((option) => (
            <ListBoxItem key={option.id} id={option.id} className="listbox-item">
              {option.label}
            </ListBoxItem>
          ))}
        </ListBox>
      </Popover>
    </Select>
  );
}

/** A checkbox with its label, drawn as the dashboard draws them. */
export function Check({
  isSelected,
  onChange,
  children,
}: {
  isSelected: boolean;
  onChange: (selected: boolean) => void;
  children: ReactNode;
}) {
  return (
    <Checkbox isSelected={isSelected} onChange={onChange} className="checkbox">
      <span className="checkbox-box" aria-hidden="true">
        {isSelected ? '✓' : ''}
      </span>
      {children}
    </Checkbox>
  );
}
