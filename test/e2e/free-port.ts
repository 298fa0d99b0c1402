// A free UDP port on a loopback address, for SIPp phones that must call from the port they registered from.
import dgram from 'node:dgram';

export async function freeUdpPortOn(ip: string): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.once('error', reject);
    s.bind(0, ip, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}
