// Hold and queue music (tenant admins and operators): upload a WAV or MP3 with a progress bar (XMLHttpRequest: fetch
// reports no upload progress), and the version list with each state and the reason of every refusal.
import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, csrfHeader, failureOf, messageOf, type Me } from '../api.ts';
import { Alert, Section, TableHead } from '../ui.tsx';
import { TenantPicker, useTenants } from './admin.tsx';

interface Version {
  id: string;
  class: 'hold' | 'queue';
  status: 'pending' | 'active' | 'retired' | 'failed';
  reason?: string;
  sourceName?: string;
  sourceBytes?: number;
  durationMs?: number;
  createdAt?: string;
  activatedAt?: string;
}

const LIMITS = { hold: '1.5 MB', queue: '3 MB' };

/** POSTs the form with the session's CSRF header, reporting upload progress (0..1). */
function upload(form: FormData, onProgress: (f: number) => void): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/moh');
    for (const [k, v] of Object.entries(csrfHeader())) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    };
    xhr.onerror = () => reject(new TypeError('network error'));
    xhr.onload = () => {
      const res = new Response(xhr.responseText, { status: xhr.status, headers: { 'retry-after': xhr.getResponseHeader('retry-after') ?? '' } });
      if (xhr.status >= 200 && xhr.status < 300) resolve(JSON.parse(xhr.responseText));
      else void failureOf(res, xhr.responseText).then(reject);
    };
    xhr.send(form);
  });
}

export function MusicPage(props: { me: Me }): JSX.Element {
  const [tenants, tenant, setTenant] = useTenants(props.me);
  const [cls, setCls] = useState<'hold' | 'queue'>('hold');
  const [file, setFile] = useState<File | undefined>(undefined);
  const [progress, setProgress] = useState<number | undefined>(undefined);
  const [versions, setVersions] = useState<Version[]>([]);
  const [error, setError] = useState<string | undefined>(undefined);
  const [done, setDone] = useState<string | undefined>(undefined);

  const load = (): void => {
    api<{ versions: Version[] }>('GET', `/api/moh?tenant=${encodeURIComponent(tenant)}`)
      .then((r) => setVersions(r.versions))
      .catch((e: unknown) => setError(messageOf(e)));
  };
  useEffect(load, [tenant]);

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    if (!file) return;
    setError(undefined);
    setDone(undefined);
    setProgress(0);
    const form = new FormData();
    form.append('tenant', tenant);
    form.append('class', cls);
    form.append('file', file, file.name);
    try {
      const r = (await upload(form, setProgress)) as { message?: string };
      setDone(r.message ?? 'Uploaded and activated.');
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setProgress(undefined);
      load();
    }
  };

  return (
    <div class="page wide">
      <h1>Hold Music</h1>
      <TenantPicker tenants={tenants} tenant={tenant} onChange={setTenant} />
      <Section title="Upload" id="moh-upload">
        <p>
          WAV or MP3, at most {LIMITS.hold} (hold music) or {LIMITS.queue} (queue music). It plays within seconds of the upload. You are responsible for the
          rights to the music you upload; until then a license-free piece plays.
        </p>
        {done && <Alert kind="success" testId="moh-done">{done}</Alert>}
        {error && <Alert kind="error" testId="moh-error">{error}</Alert>}
        <form onSubmit={(e) => void submit(e)}>
          <fieldset class="field">
            <legend>Music for</legend>
            {(['hold', 'queue'] as const).map((c) => (
              <label key={c} class="radio">
                <input type="radio" name="class" value={c} checked={cls === c} onChange={() => setCls(c)} /> {c === 'hold' ? 'Hold' : 'Queue'} (max {LIMITS[c]})
              </label>
            ))}
          </fieldset>
          <div class="field">
            <label for="moh-file">Audio file</label>
            <input id="moh-file" type="file" accept=".wav,.mp3,audio/wav,audio/mpeg" onChange={(e) => setFile((e.currentTarget as HTMLInputElement).files?.[0])} required />
          </div>
          {progress !== undefined && (
            <div class="progress-row">
              <progress max={1} value={progress} aria-label="Upload progress" />
              <span>{progress < 1 ? `${Math.round(progress * 100)} %` : 'Converting…'}</span>
            </div>
          )}
          <button type="submit" class="btn btn-primary" disabled={!file || progress !== undefined}>
            Upload
          </button>
        </form>
      </Section>
      <Section title="Versions" id="moh-versions">
        <div class="table-wrap">
          <table class="list" data-testid="moh-versions">
            <TableHead columns={['Class', 'File', 'State', 'Length', 'Uploaded']} />
            <tbody>
              {versions.length === 0 && (
                <tr>
                  <td colSpan={5}>No uploads yet: the default piece plays.</td>
                </tr>
              )}
              {versions.map((v) => (
                <tr key={v.id} data-status={v.status}>
                  <td data-label="Class">{v.class}</td>
                  <td data-label="File">{v.sourceName ?? '—'}</td>
                  <td data-label="State">
                    <span class={`badge badge-${v.status}`}>{v.status}</span>
                    {v.reason && <span class="reason"> {v.reason}</span>}
                  </td>
                  <td data-label="Length">{v.durationMs !== undefined ? `${(v.durationMs / 1000).toFixed(1)} s` : '—'}</td>
                  <td data-label="Uploaded">{v.createdAt ? new Date(v.createdAt).toLocaleString() : '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </Section>
    </div>
  );
}
