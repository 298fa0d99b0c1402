// Runs transcode() on a worker thread, so converting a long upload (seconds of CPU) never stalls the edge's event
// loop and with it every RTP stream and SIP transaction. The pipeline itself is transcode.ts's.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { UploadRefused, type RefusalReason } from './decoded-audio.ts';
import type { TranscodeOptions, Transcoded } from './transcode.ts';

/** True when this file runs as TypeScript (tests and load tests under tsx), false when built to dist/. */
const IS_SOURCE = import.meta.url.endsWith('.ts');
const TRANSCODE_URL = new URL(IS_SOURCE ? './transcode.ts' : './transcode.js', import.meta.url).href;
/**
 * tsx's register API, resolved here (a data: URL module cannot resolve bare specifiers); only for the TypeScript
 * sources, as tsx is a development dependency.
 */
const TSX_API_URL = IS_SOURCE ? pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href : undefined;

// Under tsx the worker registers tsx itself (a worker does not inherit the loader), then answers one request.
const WORKER_SOURCE = `
import { parentPort, workerData } from 'node:worker_threads';
if (workerData.tsx) (await import(workerData.tsx)).register();
const { transcode } = await import(workerData.url);
try {
  const out = await transcode(Buffer.from(workerData.bytes), workerData.opts);
  const ab = out.artifact.buffer.slice(out.artifact.byteOffset, out.artifact.byteOffset + out.artifact.length);
  parentPort.postMessage({ ok: true, out: { ...out, artifact: ab } }, [ab]);
} catch (e) {
  parentPort.postMessage({ ok: false, refused: e && e.name === 'UploadRefused', reason: e && e.reason, message: String(e && e.message) });
}
`;

type Reply =
  | { ok: true; out: Omit<Transcoded, 'artifact'> & { artifact: ArrayBuffer } }
  | { ok: false; refused: boolean; reason: RefusalReason; message: string };

/** transcode() on a fresh worker thread; rejects with UploadRefused exactly as the in-thread call would. */
export async function transcodeInWorker(bytes: Buffer, opts: TranscodeOptions): Promise<Transcoded> {
  const copy = new Uint8Array(bytes).buffer; // a private copy, transferred (not shared) to the worker
  const worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(WORKER_SOURCE)}`), {
    workerData: { url: TRANSCODE_URL, tsx: TSX_API_URL, bytes: copy, opts },
    transferList: [copy],
  });
  try {
    const reply = await new Promise<Reply>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`transcode worker exited with code ${code}`)));
    });
    if (reply.ok) return { ...reply.out, artifact: Buffer.from(reply.out.artifact) };
    if (reply.refused) throw new UploadRefused(reply.reason, reply.message);
    throw new Error(`transcode worker: ${reply.message}`);
  } finally {
    void worker.terminate();
  }
}
