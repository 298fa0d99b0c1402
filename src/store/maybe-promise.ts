// The return shape of the store calls on the SIP request path: a value when the store answers from this process's
// memory (the embedded store in the edge), a promise when it has to ask elsewhere (Redis; a CLI process forwarding a
// command to the edge). Callers chain with chain()/chainAll() and make no promise (no microtask per stage) when every
// store on the way answered with a value: the REGISTER path on the embedded store is answered before it returns.

export type MaybePromise<T> = T | Promise<T>;

/** f(value) at once when `v` is a value, else once the promise resolves. A throw in f stays synchronous for a value. */
export function chain<T, R>(v: MaybePromise<T>, f: (value: T) => MaybePromise<R>): MaybePromise<R> {
  return v instanceof Promise ? v.then(f) : f(v);
}

/**
 * f(values) once all of `vs` are there: at once when every one is a value, else after all of them (issued together:
 * Redis pipelines them into one round trip).
 */
export function chainAll<T extends readonly unknown[], R>(
  vs: { readonly [K in keyof T]: MaybePromise<T[K]> },
  f: (values: T) => MaybePromise<R>,
): MaybePromise<R> {
  for (let i = 0; i < vs.length; i++) {
    if (vs[i] instanceof Promise) return Promise.all(vs).then((all) => f(all as unknown as T));
  }
  return f(vs as unknown as T);
}
