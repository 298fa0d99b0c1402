// The house rules of src/ as tests (DESIGN.md's layers, the README's Layout): every import follows an allowed layer
// edge, no file is part of an import cycle, and every export is used by someone. Imports are read with the TypeScript
// parser, so every form counts: `import x from`, `import 'x'`, `import type`, either quote, `export ... from`,
// `import('x')`, `import('x').T` in a type, and `new URL('./x.ts', import.meta.url)` (a worker's module).
import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

/**
 * layer -> the layers it may import besides itself. Top-level files are layers of their own: clock.ts and errors.ts
 * import nothing of ours and every layer may import them (UNIVERSAL); app.ts (the wiring) imports everything but the
 * portal. The portal is browser code: it imports nothing of ours and nothing of ours imports it (the gateway serves
 * its files, it does not import them).
 *
 * media -> transport is allowed, although the first sketch of the house left it out: the hold-music service is a
 * user agent server in its own right. It answers and ends calls on the Flow its INVITE came on (transport/flow.ts,
 * the same type the registrar keeps for RFC 5626 outbound) and names itself in Contact, Via and SDP by the address
 * the caller reaches (transport/local-address.ts). Routing both through the transaction layer would only rename the
 * same dependency; a copy of local-address.ts in media/ would be a second owner of "how the edge names itself".
 * cli -> app: `sipedge start` runs the edge, and app.ts is what builds it.
 *
 * relay (rtpengine: the NG client, the set of rtpengines with their health, the anchoring rule, the anchored calls)
 * sits below proxy and media, which are siblings and both anchor calls through it: the proxy rewrites the SDP of
 * forwarded calls, the hold music that of browsers calling it. It knows SDP only as bytes and SIP not at all, so it
 * imports nothing but observability and config. cli -> relay: `sipedge start --local-rtpengine` runs one.
 */
const ALLOWED: Record<string, readonly string[]> = {
  sip: [],
  config: [],
  observability: [],
  store: ['observability', 'config'],
  transport: ['sip', 'observability', 'config'],
  transaction: ['sip', 'transport', 'observability', 'config'],
  auth: ['sip', 'store', 'observability', 'config'],
  registrar: ['sip', 'transport', 'transaction', 'auth', 'store', 'observability', 'config'],
  relay: ['observability', 'config'],
  proxy: ['sip', 'transport', 'transaction', 'auth', 'store', 'relay', 'observability', 'config'],
  media: ['sip', 'transport', 'transaction', 'store', 'relay', 'observability', 'config'],
  gateway: ['auth', 'media', 'store', 'observability', 'config'],
  cli: ['app', 'auth', 'media', 'relay', 'store', 'observability', 'config'],
  portal: [],
  clock: [],
  errors: [],
  app: ['sip', 'config', 'observability', 'store', 'transport', 'transaction', 'auth', 'registrar', 'proxy', 'relay', 'media', 'gateway', 'cli'],
};
const UNIVERSAL = ['clock', 'errors'];

const SOURCE = /\.(ts|tsx|mts|js|mjs)$/;

function files(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (f === 'node_modules' || f === 'fixtures') return [];
    return statSync(p).isDirectory() ? files(p) : SOURCE.test(f) && !f.endsWith('.d.ts') ? [p] : [];
  });
}

function layerOf(file: string): string {
  const rel = relative('src', file);
  return rel.includes('/') ? rel.split('/')[0]! : rel.replace(SOURCE, '');
}

/** One module reference: the file it names and the names it takes ('*' = all of them, e.g. `import * as`). */
interface Ref {
  spec: string;
  target: string;
  names: string[];
}

/** The repository file a relative specifier names (with or without its extension), or undefined. */
function resolveSpec(from: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  const base = resolve(dirname(from), spec);
  for (const p of [base, `${base}.ts`, `${base}.js`, join(base, 'index.ts')]) {
    if (existsSync(p) && statSync(p).isFile()) return relative(process.cwd(), p);
  }
  return relative(process.cwd(), base);
}

interface Parsed {
  refs: Ref[];
  /** Values this file exports ('default' for a default export); exported interfaces and type aliases are not listed. */
  exports: string[];
}

function parse(file: string): Parsed {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const refs: Ref[] = [];
  const exports: string[] = [];
  const add = (spec: string, names: string[]): void => {
    const target = resolveSpec(file, spec);
    if (target !== undefined) refs.push({ spec, target, names });
  };
  const exported = (n: ts.Node): boolean =>
    ts.canHaveModifiers(n) && (ts.getModifiers(n) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
  const isDefault = (n: ts.Node): boolean =>
    ts.canHaveModifiers(n) && (ts.getModifiers(n) ?? []).some((m) => m.kind === ts.SyntaxKind.DefaultKeyword);
  const bindingNames = (b: ts.BindingName): string[] =>
    ts.isIdentifier(b) ? [b.text] : b.elements.flatMap((e) => (ts.isOmittedExpression(e) ? [] : bindingNames(e.name)));

  for (const st of source.statements) {
    if (exported(st)) {
      if (isDefault(st)) exports.push('default');
      else if (ts.isVariableStatement(st)) exports.push(...st.declarationList.declarations.flatMap((d) => bindingNames(d.name)));
      else if (
        (ts.isFunctionDeclaration(st) || ts.isClassDeclaration(st) || ts.isEnumDeclaration(st) || ts.isModuleDeclaration(st)) &&
        st.name !== undefined && ts.isIdentifier(st.name)
      ) {
        exports.push(st.name.text);
      }
    }
    if (ts.isExportAssignment(st)) exports.push('default');
    if (ts.isImportDeclaration(st) && ts.isStringLiteral(st.moduleSpecifier)) {
      const c = st.importClause;
      const names: string[] = [];
      if (c?.name) names.push('default');
      if (c?.namedBindings && ts.isNamespaceImport(c.namedBindings)) names.push('*');
      if (c?.namedBindings && ts.isNamedImports(c.namedBindings)) {
        for (const e of c.namedBindings.elements) names.push((e.propertyName ?? e.name).text);
      }
      add(st.moduleSpecifier.text, names);
    }
    if (ts.isExportDeclaration(st)) {
      const clause = st.exportClause;
      if (clause && ts.isNamedExports(clause) && !st.isTypeOnly) exports.push(...clause.elements.filter((e) => !e.isTypeOnly).map((e) => e.name.text));
      if (st.moduleSpecifier && ts.isStringLiteral(st.moduleSpecifier)) {
        const names = clause && ts.isNamedExports(clause) ? clause.elements.map((e) => (e.propertyName ?? e.name).text) : ['*'];
        add(st.moduleSpecifier.text, names);
      }
    }
  }

  const visit = (n: ts.Node): void => {
    if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const arg = n.arguments[0];
      if (arg !== undefined && ts.isStringLiteralLike(arg)) add(arg.text, dynamicNames(n));
    } else if (ts.isImportTypeNode(n) && ts.isLiteralTypeNode(n.argument) && ts.isStringLiteral(n.argument.literal)) {
      const q = n.qualifier;
      add(n.argument.literal.text, [q === undefined ? '*' : ts.isIdentifier(q) ? q.text : q.left.getText()]);
    } else if (ts.isNewExpression(n) && n.expression.getText() === 'URL' && n.arguments?.length === 2) {
      const [spec, base] = n.arguments;
      if (ts.isStringLiteralLike(spec!) && SOURCE.test(spec.text) && base!.getText() === 'import.meta.url') add(spec.text, ['*']);
    }
    ts.forEachChild(n, visit);
  };
  visit(source);
  return { refs, exports };
}

/** The names a dynamic import takes: `const { a, b } = await import(...)`, `(await import(...)).a`, else all. */
function dynamicNames(call: ts.CallExpression): string[] {
  const outer = ts.isAwaitExpression(call.parent) ? call.parent : undefined;
  if (outer === undefined) return ['*'];
  let p: ts.Node = outer.parent;
  while (ts.isParenthesizedExpression(p)) p = p.parent;
  if (ts.isVariableDeclaration(p) && ts.isObjectBindingPattern(p.name)) {
    return p.name.elements.map((e) => (e.propertyName ?? e.name).getText());
  }
  if (ts.isPropertyAccessExpression(p)) return [p.name.text];
  return ['*'];
}

const srcFiles = files('src');
const parsed = new Map(srcFiles.map((f) => [f, parse(f)]));

/** Files in one import cycle or more: Tarjan's strongly connected components of the file graph, size > 1 or self. */
function cycles(): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  let next = 0;
  const edges = (f: string): string[] => (parsed.get(f)?.refs ?? []).map((r) => r.target).filter((t) => parsed.has(t));
  const connect = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of edges(v)) {
      if (!index.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || edges(v).includes(v)) out.push(scc.sort());
    }
  };
  for (const f of parsed.keys()) if (!index.has(f)) connect(f);
  return out;
}

describe('architecture', () => {
  it('keeps every import in src/ on an allowed layer edge', () => {
    const violations: string[] = [];
    for (const [file, { refs }] of parsed) {
      const from = layerOf(file);
      for (const r of refs) {
        if (!r.target.startsWith('src/')) {
          violations.push(`${file} imports ${r.spec}, outside src/`);
          continue;
        }
        const to = layerOf(r.target);
        if (to === from) continue;
        if (to === 'portal') violations.push(`${file} imports ${r.spec} (nothing of ours imports the browser portal)`);
        else if (!UNIVERSAL.includes(to) && !(ALLOWED[from] ?? []).includes(to)) violations.push(`${file} imports ${r.spec} (${from} -> ${to})`);
      }
    }
    expect(violations).toEqual([]);
  });

  it('keeps clock.ts and errors.ts free of imports of ours, as everything may import them', () => {
    const found = [...parsed].filter(([f, p]) => UNIVERSAL.includes(layerOf(f)) && p.refs.length > 0).map(([f]) => f);
    expect(found).toEqual([]);
  });

  it('has a rule for every layer folder and top-level file in src/', () => {
    const layers = readdirSync('src').filter((f) => statSync(join('src', f)).isDirectory() || SOURCE.test(f)).map((f) => f.replace(SOURCE, ''));
    for (const l of layers) expect(Object.keys(ALLOWED), l).toContain(l);
  });

  it('keeps load-tests/ and scripts/ free of imports from test/ (the shared SIPp and edge helpers live in load-tests/lib/)', () => {
    const found = [...files('load-tests'), ...files('scripts')].flatMap((f) => parse(f).refs.filter((r) => r.target.startsWith('test/')).map((r) => `${f} imports ${r.spec}`));
    expect(found).toEqual([]);
  });

  it('has no import cycle between files in src/', () => {
    expect(cycles()).toEqual([]);
  });

  /**
   * An exported value (function, class, constant) that no other file imports is dead code or an internal that leaks.
   * Importers are src/, test/, load-tests/, scripts/ and bin/: a seam that exists for a test (FakeClock, ipv6Name) or
   * a micro-benchmark (every hot helper has one) is a use, as it is the repo's own code that needs the export. A use
   * inside the exporting file is not. Exported interfaces and type aliases are left out: they name the parts of an
   * exported signature (a constructor's deps, an outcome union), and unexporting one kills no code, it only stops
   * callers from spelling it.
   */
  it('exports no value from src/ that no other file imports', () => {
    const used = new Map<string, Set<string>>();
    const consumers = [...srcFiles, ...files('test'), ...files('load-tests'), ...files('scripts'), ...files('bin')];
    for (const f of consumers) {
      for (const r of (parsed.get(f) ?? parse(f)).refs) {
        if (r.target === f) continue;
        const set = used.get(r.target) ?? new Set<string>();
        for (const n of r.names) set.add(n);
        used.set(r.target, set);
      }
    }
    const unused: string[] = [];
    for (const [file, { exports }] of parsed) {
      // The browser portal's modules are loaded by its pages, not imported by our code.
      if (layerOf(file) === 'portal') continue;
      const set = used.get(file);
      if (set?.has('*')) continue;
      for (const name of exports) if (!set?.has(name)) unused.push(`${file}: ${name}`);
    }
    expect(unused).toEqual([]);
  });
});
