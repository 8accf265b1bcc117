/**
 * A labelled form field: `<Field label hint error><Input .../></Field>`. The label wraps the control, and
 * the Input/Select inside pick up the hint and error (aria-describedby, aria-invalid) from context.
 */
import {
  createContext,
  useContext,
  useId,
  type InputHTMLAttributes,
  type ReactNode,
  type SelectHTMLAttributes,
  type TextareaHTMLAttributes,
} from 'react';

interface FieldInfo {
  readonly describedBy: string | undefined;
  readonly invalid: boolean;
}

const FieldContext = createContext<FieldInfo>({ describedBy: undefined, invalid: false });

export interface FieldProps {
  readonly label: ReactNode;
  readonly hint?: ReactNode;
  readonly error?: ReactNode;
  readonly children: ReactNode;
  readonly className?: string;
}

export function Field({ label, hint, error, children, className }: FieldProps) {
  const id = useId();
  const hintId = hint ? `${id}-hint` : undefined;
  const errorId = error ? `${id}-error` : undefined;
  const describedBy = [hintId, errorId].filter(Boolean).join(' ') || undefined;
  return (
    <FieldContext.Provider value={{ describedBy, invalid: Boolean(error) }}>
      <div className={['field', error ? 'field--invalid' : '', className ?? ''].filter(Boolean).join(' ')}>
        <label className="field__label">
          <span className="field__text">{label}</span>
          {children}
        </label>
        {hint ? (
          <p className="field__hint" id={hintId}>
            {hint}
          </p>
        ) : null}
        {error ? (
          <p className="field__error" id={errorId} role="alert">
            {error}
          </p>
        ) : null}
      </div>
    </FieldContext.Provider>
  );
}

export function Input({ className, ...rest }: InputHTMLAttributes<HTMLInputElement>) {
  const field = useContext(FieldContext);
  return (
    <input
      aria-describedby={field.describedBy}
      aria-invalid={field.invalid || undefined}
      {...rest}
      className={['input', className ?? ''].filter(Boolean).join(' ')}
    />
  );
}

/** A multi-line text (a pasted PEM key). */
export function Textarea({ className, ...rest }: TextareaHTMLAttributes<HTMLTextAreaElement>) {
  const field = useContext(FieldContext);
  return (
    <textarea
      aria-describedby={field.describedBy}
      aria-invalid={field.invalid || undefined}
      {...rest}
      className={['input', 'input--multiline', className ?? ''].filter(Boolean).join(' ')}
    />
  );
}

export interface SelectOption {
  readonly value: string;
  readonly label: string;
}

export function Select({
  options,
  className,
  ...rest
}: SelectHTMLAttributes<HTMLSelectElement> & { options: readonly SelectOption[] }) {
  const field = useContext(FieldContext);
  return (
    <select
      aria-describedby={field.describedBy}
      aria-invalid={field.invalid || undefined}
      {...rest}
      className={['input', 'select', className ?? ''].filter(Boolean).join(' ')}
    >
      {options.map((option) => (
        <option key={option.value} value={option.value}>
          {option.label}
        </option>
      ))}
    </select>
  );
}
