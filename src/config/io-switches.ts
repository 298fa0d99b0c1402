// The process-level I/O switches: environment variables that choose how the edge moves packets, never what it does.
// They are not config keys (the loader skips them); the native parts read them when they load.

/** SIPEDGE_NATIVE_UDP=0: SIP over UDP through dgram instead of the native I/O; SIPEDGE_NATIVE_RTP=0: hold-music RTP likewise. */
export const IO_SWITCHES = { nativeUdp: 'SIPEDGE_NATIVE_UDP', nativeRtp: 'SIPEDGE_NATIVE_RTP' } as const;

/** Why the switch turns its native part off ('disabled by SIPEDGE_NATIVE_UDP=0'), or undefined when it does not. */
export function switchedOff(which: keyof typeof IO_SWITCHES, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const name = IO_SWITCHES[which];
  return env[name] === '0' ? `disabled by ${name}=0` : undefined;
}
