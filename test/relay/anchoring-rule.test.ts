// The anchoring rule operators choose with media.anchoring (README "WebRTC media"): which calls go through rtpengine.
import { describe, expect, it } from 'vitest';
import { decideAnchoring } from '../../src/relay/anchoring.ts';

describe('media.anchoring', () => {
  it('bridge: a browser and a desk phone must be anchored, two phones of one kind are not', () => {
    expect(decideAnchoring('bridge', 'webrtc', 'rtp')).toEqual({ anchor: true, required: true, rule: 'bridge webrtc->rtp' });
    expect(decideAnchoring('bridge', 'rtp', 'webrtc')).toMatchObject({ anchor: true, required: true });
    expect(decideAnchoring('bridge', 'rtp', 'rtp')).toMatchObject({ anchor: false, required: false });
    expect(decideAnchoring('bridge', 'webrtc', 'webrtc')).toMatchObject({ anchor: false, required: false });
  });

  it('always: same-kind calls are anchored too, but may go unanchored when rtpengine fails', () => {
    expect(decideAnchoring('always', 'rtp', 'rtp')).toEqual({ anchor: true, required: false, rule: 'always rtp->rtp' });
    expect(decideAnchoring('always', 'webrtc', 'rtp')).toMatchObject({ anchor: true, required: true });
  });

  it('off: no call is anchored and none is refused for want of a relay', () => {
    expect(decideAnchoring('off', 'webrtc', 'rtp')).toEqual({ anchor: false, required: false, rule: 'off' });
    expect(decideAnchoring('off', 'rtp', 'rtp')).toMatchObject({ anchor: false, required: false });
  });
});
