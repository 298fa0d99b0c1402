import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';
import { IO_SWITCHES } from './src/config/io-switches.ts';

/**
 * Stories that run twice: once as they are (the native SIP-over-UDP I/O and the native RTP send, both built by the
 * test setup), and once with both switched off, on Node's dgram, the path an edge without a C compiler takes.
 */
const BOTH_IO_PATHS = [
  'test/transport/io-switches.test.ts',
  'test/registrar/register.test.ts',
  'test/proxy/proxy.test.ts',
  'test/media/moh-call.test.ts',
];

export default defineConfig({
  test: {
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Most test files wait on real processes (edges, SIPp, Chromium, rtpengine) rather than compute, so two files run at
    // once even on two cores (vitest's default there is one: cores - 1). The whole suite passed that way on a 2-core
    // machine under a load average of 10.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    projects: [
      { extends: true, test: { name: 'native', include: ['test/**/*.test.ts'] } },
      {
        extends: true,
        test: {
          name: 'dgram',
          include: BOTH_IO_PATHS,
          env: { [IO_SWITCHES.nativeUdp]: '0', [IO_SWITCHES.nativeRtp]: '0' },
        },
      },
    ],
  },
});
