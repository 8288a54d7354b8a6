/**
 * Gives up on `promise` after `ms`: then settles with `onTimeout()` (its value, or what it throws).
 * The timer is cleared once either settles; the promise given up on is left to finish, its
 * answer dropped.
 */
export function within<T, U>(promise: Promise<T>, ms: number, onTimeout: () => U): Promise<T | U> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<U>((resolve, reject) => {
    timer = setTimeout(() => {
      try {
        resolve(onTimeout());
      } catch (err: unknown) {
        reject(err);
      }
    }, ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
