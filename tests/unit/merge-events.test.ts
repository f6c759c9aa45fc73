import { describe, expect, it } from 'vitest';
import { type LoopEvent, mergeEvents } from '@/lib/loop/events';

const normal = (reason: string, message = reason.toLowerCase()): LoopEvent => ({ type: 'Normal', reason, message });
const warning = (reason: string, message = reason.toLowerCase()): LoopEvent => ({ type: 'Warning', reason, message });

describe('one Event per pass of the loop', () => {
  it('no Event for a pass that told nothing, the Event itself for a pass that told one', () => {
    expect(mergeEvents([])).toBeUndefined();
    expect(mergeEvents([normal('Denied', 'denied by plugin:blacklist')])).toEqual(normal('Denied', 'denied by plugin:blacklist'));
  });

  it('is named after the last change of state, not the email that followed it, and says every step in order', () => {
    expect(mergeEvents([normal('Approved'), normal('KeyMinted'), normal('EmailSent')])).toEqual({ type: 'Normal', reason: 'KeyMinted', message: 'approved; keyminted; emailsent' });
    expect(mergeEvents([normal('EmailSent'), normal('EmailSent')])?.reason).toBe('EmailSent');
  });

  it('a Warning anywhere in the pass makes the Event a Warning, named after the first one', () => {
    expect(mergeEvents([normal('Approved'), warning('GatewayUnavailable'), warning('EmailFailed')])).toEqual({ type: 'Warning', reason: 'GatewayUnavailable', message: 'approved; gatewayunavailable; emailfailed' });
  });

  it('stays within the 1,000 characters an Event message is given', () => {
    const long = Array.from({ length: 5 }, (_, i) => normal(`Step${i}`, 'x'.repeat(400)));
    expect(mergeEvents(long)?.message).toHaveLength(1000);
  });
});
