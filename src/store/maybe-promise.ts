// The return shape of the store calls on the SIP request path: a value when the store answers from this process's
// memory (the embedded store in the edge), a promise when it has to ask elsewhere (Redis; a CLI process forwarding a
// command to the edge). Callers chain with chain()/chain2()/chain3() and make no promise (no microtask per stage) when
// every store on the way answered with a value: the REGISTER path on the embedded store is answered before it returns.
// The positional forms take no array on the value path (the REGISTER path calls them several times per request).

export type MaybePromise<T> = T | Promise<T>;

/** f(value) at once when `v` is a value, else once the promise resolves. A throw in f stays synchronous for a value. */
export function chain<T, R>(v: MaybePromise<T>, f: (value: T) => MaybePromise<R>): MaybePromise<R> {
  return v instanceof Promise ? v.then(f) : f(v);
}

/**
 * f(a, b) once both are there: at once for two values, else after both promises (issued together: Redis pipelines
 * them into one round trip).
 */
export function chain2<A, B, R>(a: MaybePromise<A>, b: MaybePromise<B>, f: (a: A, b: B) => MaybePromise<R>): MaybePromise<R> {
  if (a instanceof Promise || b instanceof Promise) return Promise.all([a, b]).then(([x, y]) => f(x, y));
  return f(a, b);
}

/** chain2 for three. */
export function chain3<A, B, C, R>(
  a: MaybePromise<A>,
  b: MaybePromise<B>,
  c: MaybePromise<C>,
  f: (a: A, b: B, c: C) => MaybePromise<R>,
): MaybePromise<R> {
  if (a instanceof Promise || b instanceof Promise || c instanceof Promise) return Promise.all([a, b, c]).then(([x, y, z]) => f(x, y, z));
  return f(a, b, c);
}
