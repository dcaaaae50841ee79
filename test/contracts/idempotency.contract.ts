/**
 * Contract suite for `IdempotencyStore` (shared/state/idempotency.ts): every driver runs it.
 *
 * The factory returns a fresh store over isolated state (see ContractSubject). Expiry is watched with
 * a 1-second TTL and polled for up to a few seconds; "still alive" is checked against a control key
 * claimed with the same short TTL no earlier, so nothing here sleeps. Polling uses `begin` itself: it
 * answers 'pending' (or 'done', or 'conflict') until the key has expired, then 'new'.
 */
import { describe, expect, it } from 'vitest';
import type { IdempotencyBegin, IdempotencyStore } from '../../shared/state/idempotency.js';
import { waitFor } from '../helpers/wait.js';
import {
  EXPIRY_DEADLINE_MS,
  LONG_TTL_SECONDS,
  SHORT_TTL_SECONDS,
  useSubject,
  type ContractFactory,
} from './subject.js';

const FP_A = 'sha256:aaaa';
const FP_B = 'sha256:bbbb';
const ANSWER = JSON.stringify({ id: 'm-1', offset: 7, epoch: 'e1' });

export function idempotencyContract(name: string, factory: ContractFactory<IdempotencyStore>): void {
  describe(`IdempotencyStore contract: ${name}`, () => {
    const subject = useSubject(factory);

    function begin(
      key: string,
      fingerprint = FP_A,
      ttlSeconds = LONG_TTL_SECONDS,
    ): Promise<IdempotencyBegin> {
      return subject.driver.begin(key, fingerprint, ttlSeconds);
    }

    /** Polls until `key` is unknown again; the poll that finds it so claims it (with a long TTL). */
    async function waitUntilUnknown(key: string, fingerprint = FP_A): Promise<void> {
      await waitFor(
        async () => (await begin(key, fingerprint)).state === 'new',
        `idempotency key ${key} to expire`,
        EXPIRY_DEADLINE_MS,
      );
    }

    describe('begin', () => {
      it('when a key is unknown, then begin claims it and answers new', async () => {
        expect(await begin('k-1')).toEqual({ state: 'new' });
      });

      it('when the first request with the same fingerprint is still running, then begin answers pending, every time', async () => {
        await begin('k-1');

        expect(await begin('k-1')).toEqual({ state: 'pending' });
        expect(await begin('k-1')).toEqual({ state: 'pending' });
      });

      it('when the first request is still running and the fingerprint differs, then begin answers conflict and the claim stays', async () => {
        await begin('k-1', FP_A);

        expect(await begin('k-1', FP_B)).toEqual({ state: 'conflict' });
        expect(await begin('k-1', FP_A)).toEqual({ state: 'pending' });
      });

      it('when a key was claimed with a second fingerprint (`also`), then a begin with the same first or the same second one is the same request; with neither, a conflict', async () => {
        const store = subject.driver;
        const CANON = 'sha256:canon';
        expect(await store.begin('k-1', FP_A, LONG_TTL_SECONDS, CANON)).toEqual({ state: 'new' });

        expect(await store.begin('k-1', FP_B, LONG_TTL_SECONDS, CANON)).toEqual({ state: 'pending' });
        expect(await begin('k-1', FP_A)).toEqual({ state: 'pending' }); // a caller without `also`
        expect(await store.begin('k-1', FP_B, LONG_TTL_SECONDS, 'sha256:other')).toEqual({
          state: 'conflict',
        });
        expect(await begin('k-1', FP_B)).toEqual({ state: 'conflict' });
        await store.complete('k-1', FP_A, ANSWER, LONG_TTL_SECONDS);
        expect(await store.begin('k-1', FP_B, LONG_TTL_SECONDS, CANON)).toEqual({
          state: 'done',
          answer: ANSWER,
        });
      });

      it('when a key was claimed without a second fingerprint, then only the first one matches', async () => {
        const store = subject.driver;
        await begin('k-1', FP_A);

        expect(await store.begin('k-1', FP_B, LONG_TTL_SECONDS, 'sha256:canon')).toEqual({
          state: 'conflict',
        });
        expect(await store.begin('k-1', FP_A, LONG_TTL_SECONDS, 'sha256:canon')).toEqual({
          state: 'pending',
        });
      });

      it('when two requests with the same key and fingerprint begin concurrently, then exactly one is new and the other pending', async () => {
        const store = subject.driver;
        const keys = Array.from({ length: 25 }, (_, i) => `k-race-${i}`);

        const results = await Promise.all(
          keys.map((key) =>
            Promise.all([store.begin(key, FP_A, LONG_TTL_SECONDS), store.begin(key, FP_A, LONG_TTL_SECONDS)]),
          ),
        );

        for (const pair of results) {
          expect(pair.map((r) => r.state).sort()).toEqual(['new', 'pending']);
        }
      });

      it('when two requests with the same key and different fingerprints begin concurrently, then one is new, the other conflict, and the winner holds the claim', async () => {
        const store = subject.driver;
        const keys = Array.from({ length: 25 }, (_, i) => `k-race-${i}`);

        const results = await Promise.all(
          keys.map((key, i) =>
            // Alternate who goes first so neither fingerprint is favoured by call order.
            i % 2
              ? Promise.all([
                  store.begin(key, FP_A, LONG_TTL_SECONDS),
                  store.begin(key, FP_B, LONG_TTL_SECONDS),
                ])
              : Promise.all([
                  store.begin(key, FP_B, LONG_TTL_SECONDS),
                  store.begin(key, FP_A, LONG_TTL_SECONDS),
                ]).then(([b, a]) => [a, b]),
          ),
        );

        for (const [i, [a, b]] of results.entries()) {
          expect([a!.state, b!.state].sort()).toEqual(['conflict', 'new']);
          const [winner, loser] = a!.state === 'new' ? [FP_A, FP_B] : [FP_B, FP_A];
          expect(await begin(keys[i]!, winner)).toEqual({ state: 'pending' });
          expect(await begin(keys[i]!, loser)).toEqual({ state: 'conflict' });
        }
      });

      it('when ten requests with the same key and fingerprint begin concurrently, then exactly one is new', async () => {
        const store = subject.driver;

        const results = await Promise.all(
          Array.from({ length: 10 }, () => store.begin('k-crowd', FP_A, LONG_TTL_SECONDS)),
        );

        expect(results.filter((r) => r.state === 'new')).toHaveLength(1);
        expect(results.filter((r) => r.state === 'pending')).toHaveLength(9);
      });
    });

    describe('complete', () => {
      it('when a claimed key is completed, then a begin with the same fingerprint answers done with the exact answer, every time', async () => {
        await begin('k-1');

        await subject.driver.complete('k-1', FP_A, ANSWER, LONG_TTL_SECONDS);

        expect(await begin('k-1')).toEqual({ state: 'done', answer: ANSWER });
        expect(await begin('k-1')).toEqual({ state: 'done', answer: ANSWER });
      });

      it('when the answer holds non-ASCII text, then done returns it unchanged', async () => {
        const answers = [
          JSON.stringify({ text: 'Ihre Bestellung wurde versandt ✓ — 配送中 📦 مرحبا', emoji: '👩🏽‍💻🇫🇷' }),
          '"e\u0301 vs \u00e9, \u2028 \u2029 \ufeff"',
          JSON.stringify({ big: 'ü'.repeat(50_000) }),
        ];
        for (const [i, answer] of answers.entries()) {
          await begin(`k-${i}`);
          await subject.driver.complete(`k-${i}`, FP_A, answer, LONG_TTL_SECONDS);
        }

        for (const [i, answer] of answers.entries()) {
          expect(await begin(`k-${i}`)).toEqual({ state: 'done', answer });
        }
      });

      it('when a completed key is begun with a different fingerprint, then begin answers conflict and the answer stays', async () => {
        await begin('k-1', FP_A);
        await subject.driver.complete('k-1', FP_A, ANSWER, LONG_TTL_SECONDS);

        expect(await begin('k-1', FP_B)).toEqual({ state: 'conflict' });
        expect(await begin('k-1', FP_A)).toEqual({ state: 'done', answer: ANSWER });
      });

      it('when complete names another fingerprint than the claim, then nothing is recorded', async () => {
        await begin('k-1', FP_A);

        await subject.driver.complete('k-1', FP_B, ANSWER, LONG_TTL_SECONDS);

        expect(await begin('k-1', FP_A)).toEqual({ state: 'pending' });
        expect(await begin('k-1', FP_B)).toEqual({ state: 'conflict' });
      });

      it('when a key is completed twice, then the first answer stays', async () => {
        await begin('k-1');
        await subject.driver.complete('k-1', FP_A, ANSWER, LONG_TTL_SECONDS);

        await subject.driver.complete('k-1', FP_A, '{"second":true}', LONG_TTL_SECONDS);

        expect(await begin('k-1')).toEqual({ state: 'done', answer: ANSWER });
      });

      it('when an unknown key is completed, then nothing is recorded and begin answers new', async () => {
        await subject.driver.complete('k-never-begun', FP_A, ANSWER, LONG_TTL_SECONDS);

        expect(await begin('k-never-begun')).toEqual({ state: 'new' });
      });

      it('when a claim expired before complete, then nothing is recorded and begin answers new', async () => {
        await begin('k-1', FP_A, SHORT_TTL_SECONDS);
        // Claimed after k-1 with the same TTL: once it is unknown again, k-1's claim has expired.
        await begin('k-control', FP_A, SHORT_TTL_SECONDS);
        await waitUntilUnknown('k-control');

        await subject.driver.complete('k-1', FP_A, ANSWER, LONG_TTL_SECONDS);

        expect(await begin('k-1')).toEqual({ state: 'new' });
      });
    });

    describe('abandon', () => {
      it('when a pending claim is abandoned, then the key is unknown again and the retry begins as new', async () => {
        await begin('k-1', FP_A);

        await subject.driver.abandon('k-1', FP_A);

        expect(await begin('k-1', FP_A)).toEqual({ state: 'new' });
        expect(await begin('k-1', FP_A)).toEqual({ state: 'pending' });
      });

      it('when a pending claim is abandoned, then a request with another fingerprint may claim the key', async () => {
        await begin('k-1', FP_A);

        await subject.driver.abandon('k-1', FP_A);

        expect(await begin('k-1', FP_B)).toEqual({ state: 'new' });
      });

      it('when abandon names another fingerprint than the claim, then the claim stays', async () => {
        await begin('k-1', FP_A);

        await subject.driver.abandon('k-1', FP_B);

        expect(await begin('k-1', FP_A)).toEqual({ state: 'pending' });
        expect(await begin('k-1', FP_B)).toEqual({ state: 'conflict' });
      });

      it('when a completed key is abandoned, then the answer stays', async () => {
        await begin('k-1');
        await subject.driver.complete('k-1', FP_A, ANSWER, LONG_TTL_SECONDS);

        await subject.driver.abandon('k-1', FP_A);

        expect(await begin('k-1')).toEqual({ state: 'done', answer: ANSWER });
      });

      it('when an unknown key is abandoned, then abandon resolves and the key stays unknown', async () => {
        await expect(subject.driver.abandon('k-never-begun', FP_A)).resolves.toBeUndefined();

        expect(await begin('k-never-begun')).toEqual({ state: 'new' });
      });
    });

    describe('expiry', () => {
      it('when a claim is not completed, then it expires ttlSeconds after begin, and later begins do not extend it', async () => {
        expect(await begin('k-short', FP_A, SHORT_TTL_SECONDS)).toEqual({ state: 'new' });
        expect(await begin('k-short', FP_A, LONG_TTL_SECONDS)).toEqual({ state: 'pending' });

        // Each poll is a begin with a long TTL that answers pending: none may keep the claim alive.
        await waitUntilUnknown('k-short');
      });

      it('when a claim is completed, then the answer lives ttlSeconds from complete', async () => {
        await begin('k-1', FP_A, SHORT_TTL_SECONDS);
        // Claimed after k-1 with the same TTL: once it is unknown again, k-1's claim would have expired.
        await begin('k-control', FP_A, SHORT_TTL_SECONDS);
        await subject.driver.complete('k-1', FP_A, ANSWER, LONG_TTL_SECONDS);

        await waitUntilUnknown('k-control');
        expect(await begin('k-1')).toEqual({ state: 'done', answer: ANSWER });
      });

      it('when a claim is completed with a short TTL, then the answer expires and the key is unknown again', async () => {
        await begin('k-1', FP_A, LONG_TTL_SECONDS);
        await subject.driver.complete('k-1', FP_A, ANSWER, SHORT_TTL_SECONDS);
        expect(await begin('k-1')).toEqual({ state: 'done', answer: ANSWER });

        await waitUntilUnknown('k-1');
      });

      it('when a completed key has expired, then a request with another fingerprint begins as new', async () => {
        await begin('k-1', FP_A, LONG_TTL_SECONDS);
        await subject.driver.complete('k-1', FP_A, ANSWER, SHORT_TTL_SECONDS);
        expect(await begin('k-1', FP_B)).toEqual({ state: 'conflict' });

        await waitUntilUnknown('k-1', FP_B);
        expect(await begin('k-1', FP_A)).toEqual({ state: 'conflict' });
      });
    });

    describe('keys', () => {
      it('when several keys are used, then each keeps its own claim, fingerprint and answer', async () => {
        const store = subject.driver;
        expect(await begin('k-1', FP_A)).toEqual({ state: 'new' });
        expect(await begin('k-2', FP_A)).toEqual({ state: 'new' });
        expect(await begin('k-3', FP_B)).toEqual({ state: 'new' });

        await store.complete('k-1', FP_A, ANSWER, LONG_TTL_SECONDS);
        await store.abandon('k-3', FP_B);

        expect(await begin('k-1', FP_A)).toEqual({ state: 'done', answer: ANSWER });
        expect(await begin('k-2', FP_A)).toEqual({ state: 'pending' });
        expect(await begin('k-2', FP_B)).toEqual({ state: 'conflict' });
        expect(await begin('k-3', FP_A)).toEqual({ state: 'new' });
        expect(await begin('k-4', FP_A)).toEqual({ state: 'new' });
      });

      it('when keys are long, prefixes of each other, or hold any visible ASCII, then they stay independent', async () => {
        const visible = Array.from({ length: 0x7e - 0x21 + 1 }, (_, i) => String.fromCharCode(0x21 + i)).join(
          '',
        );
        const long = (visible + visible + visible).slice(0, 255);
        const keys = [
          long,
          long.slice(0, 254),
          `${long.slice(0, 254)}x`,
          'a',
          'a:',
          'a*',
          '*',
          'k?[1]',
          'K-1',
        ];

        for (const [i, key] of keys.entries()) {
          expect(await begin(key, `fp-${i}`)).toEqual({ state: 'new' });
          await subject.driver.complete(key, `fp-${i}`, JSON.stringify({ i }), LONG_TTL_SECONDS);
        }

        for (const [i, key] of keys.entries()) {
          expect(await begin(key, `fp-${i}`)).toEqual({ state: 'done', answer: JSON.stringify({ i }) });
        }
      });
    });

    it('when the store is closed, then close resolves', async () => {
      await begin('k-1');

      await expect(subject.close()).resolves.toBeUndefined();
    });
  });
}
