/** Saving a file from the page: a temporary link to an object URL (or a data URL), clicked and removed. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { download, downloadDataUrl } from '../../src-renderer/components/download';

describe('download', () => {
  afterEach(() => {
    vi.restoreAllMocks();
    vi.useRealTimers();
    // jsdom has neither; a test that gives them to URL takes them away again.
    delete (URL as Partial<typeof URL>).createObjectURL;
    delete (URL as Partial<typeof URL>).revokeObjectURL;
  });

  function objectUrls(make: ((blob: Blob) => string) | undefined, revoke: (url: string) => void = () => undefined): void {
    Object.defineProperty(URL, 'createObjectURL', { value: make, configurable: true });
    Object.defineProperty(URL, 'revokeObjectURL', { value: revoke, configurable: true });
  }

  function watchClicks(): { name: string; href: string; attached: boolean }[] {
    const clicks: { name: string; href: string; attached: boolean }[] = [];
    vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(function (this: HTMLAnchorElement) {
      clicks.push({ name: this.download, href: this.href, attached: document.body.contains(this) });
    });
    return clicks;
  }

  it('saves text through an object URL with its type, then removes the link and frees the URL', () => {
    vi.useFakeTimers();
    const blobs: Blob[] = [];
    const revoke = vi.fn();
    vi.stubGlobal(
      'URL',
      Object.assign(URL, { createObjectURL: (blob: Blob) => (blobs.push(blob), 'blob:saved'), revokeObjectURL: revoke }),
    );
    const clicks = watchClicks();
    download('findings.csv', 'a,b\n1,2\n');
    expect(clicks).toEqual([{ name: 'findings.csv', href: 'blob:saved', attached: true }]);
    expect(document.querySelectorAll('a')).toHaveLength(0);
    expect(blobs[0]?.type).toBe('text/csv;charset=utf-8');
    expect(blobs[0]?.size).toBe('a,b\n1,2\n'.length);
    download('history.json', '{}', 'application/json');
    expect(blobs[1]?.type).toBe('application/json');
    expect(revoke).not.toHaveBeenCalled();
    vi.advanceTimersByTime(10_000);
    expect(revoke).toHaveBeenCalledWith('blob:saved');
  });

  it('does nothing where the page cannot make object URLs', () => {
    objectUrls(undefined);
    const clicks = watchClicks();
    download('x.csv', 'x');
    expect(clicks).toEqual([]);
  });

  it('saves a data URL as it is', () => {
    const clicks = watchClicks();
    downloadDataUrl('timeline.png', 'data:image/png;base64,AAAA');
    expect(clicks).toEqual([{ name: 'timeline.png', href: 'data:image/png;base64,AAAA', attached: true }]);
  });
});
