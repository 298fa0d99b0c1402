// Small building blocks the pages share: labelled fields, status messages (announced to screen readers), a QR code,
// a value shown once with a copy button, and the password rules list.
import type { ComponentChildren, JSX } from 'preact';
import { useState } from 'preact/hooks';
import { RULES, type Preset } from './password-rules.ts';
import { linkClick } from './router.ts';

export function Field(props: {
  id: string;
  label: string;
  hint?: string;
  value: string;
  onInput: (v: string) => void;
  type?: 'text' | 'password' | 'email';
  autocomplete?: string;
  required?: boolean;
  inputMode?: 'numeric' | 'email' | 'text';
  pattern?: string;
  maxLength?: number;
  invalid?: boolean;
  autofocus?: boolean;
}): JSX.Element {
  const hintId = props.hint ? `${props.id}-hint` : undefined;
  return (
    <div class="field">
      <label for={props.id}>{props.label}</label>
      <input
        id={props.id}
        name={props.id}
        type={(props.type ?? 'text') as 'text'}
        value={props.value}
        onInput={(e) => props.onInput((e.currentTarget as HTMLInputElement).value)}
        autocomplete={props.autocomplete}
        required={props.required}
        inputMode={props.inputMode}
        pattern={props.pattern}
        maxLength={props.maxLength}
        aria-describedby={hintId}
        aria-invalid={props.invalid ? 'true' : undefined}
        autofocus={props.autofocus}
      />
      {props.hint && (
        <p class="hint" id={hintId}>
          {props.hint}
        </p>
      )}
    </div>
  );
}

export function Alert(props: { kind: 'error' | 'success' | 'info' | 'warning'; children: ComponentChildren; testId?: string }): JSX.Element {
  return (
    <div class={`alert alert-${props.kind}`} role={props.kind === 'error' ? 'alert' : 'status'} data-testid={props.testId}>
      {props.children}
    </div>
  );
}

export function Link(props: { to: string; children: ComponentChildren; class?: string; current?: boolean }): JSX.Element {
  return (
    <a href={props.to} class={props.class} aria-current={props.current ? 'page' : undefined} onClick={(e) => linkClick(e as unknown as MouseEvent, props.to)}>
      {props.children}
    </a>
  );
}

export function QrImage(props: { dataUrl: string; label: string; testId?: string }): JSX.Element {
  return <img class="qr" src={props.dataUrl} alt={props.label} width={256} height={256} data-testid={props.testId} />;
}

/** A secret shown once: monospace, selectable, with a copy button. */
export function OnceValue(props: { label: string; value: string; testId?: string }): JSX.Element {
  const [copied, setCopied] = useState(false);
  return (
    <div class="once">
      <span class="once-label">{props.label}</span>
      <code class="once-value" data-testid={props.testId}>
        {props.value}
      </code>
      <button
        type="button"
        class="btn btn-small"
        onClick={() =>
          void navigator.clipboard
            ?.writeText(props.value)
            .then(() => setCopied(true))
            .catch(() => undefined)
        }
      >
        {copied ? 'Copied' : 'Copy'}
      </button>
    </div>
  );
}

/** The preset's rules; each one `pw` breaks is marked and named (after an attempt, or once typing started). */
export function PasswordRules(props: { preset: Preset; password: string; show: boolean; serverBroken?: string[] }): JSX.Element {
  return (
    <ul class="rules" aria-label="Password rules">
      {RULES[props.preset].map((r) => {
        const broken = props.show && (r.broken(props.password) || (props.serverBroken ?? []).includes(r.rule));
        const ok = props.show && !broken;
        return (
          <li key={r.rule} class={broken ? 'rule-broken' : ok ? 'rule-ok' : ''} data-rule={r.rule}>
            <span aria-hidden="true">{broken ? '✗' : ok ? '✓' : '•'}</span> Password {r.message}
            {broken && <span class="sr-only"> (not met)</span>}
          </li>
        );
      })}
    </ul>
  );
}

export function Section(props: { title: string; id: string; children: ComponentChildren }): JSX.Element {
  return (
    <section class="card" aria-labelledby={props.id}>
      <h2 id={props.id}>{props.title}</h2>
      {props.children}
    </section>
  );
}

/** A table's column headings. */
export function TableHead(props: { columns: string[] }): JSX.Element {
  return (
    <thead>
      <tr>
        {props.columns.map((c) => (
          <th key={c} scope="col">
            {c}
          </th>
        ))}
      </tr>
    </thead>
  );
}
