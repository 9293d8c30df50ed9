// Batching by request: the resolvers of one GraphQL request that ask the same question for
// different ids (a page of applications' keys, a page of keys' usage) are answered by one
// statement. Requests are kept apart (one request's ids never join another's).

interface Batch<T> {
  ids: Set<string>;
  done: Promise<Map<string, T>>;
}

const batches = new WeakMap<object, Map<string, Batch<unknown>>>();

/**
 * The answer for `id`, from one run of `run` over every id asked with the same `question` in
 * this request (`request`: its context object) before the event loop turns.
 */
export function batched<T>(
  request: object,
  question: string,
  id: string,
  run: (ids: string[]) => Promise<Map<string, T>>,
): Promise<T | undefined> {
  let ofRequest = batches.get(request);
  if (!ofRequest) {
    ofRequest = new Map();
    batches.set(request, ofRequest);
  }
  let batch = ofRequest.get(question) as Batch<T> | undefined;
  if (!batch) {
    const ids = new Set<string>();
    const pending = ofRequest;
    const done = new Promise<Map<string, T>>((resolve, reject) => {
      // After every resolver of this tick (and their microtasks) has joined.
      setImmediate(() => {
        pending.delete(question);
        run([...ids]).then(resolve, reject);
      });
    });
    batch = { ids, done };
    ofRequest.set(question, batch as Batch<unknown>);
  }
  batch.ids.add(id);
  return batch.done.then((results) => results.get(id));
}
