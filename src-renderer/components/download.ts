/**
 * Saves data as a file from the page (CSV exports, the simulator's history and charts): a temporary
 * link to a Blob or data URL, clicked and removed. Where the page cannot make object URLs (jsdom in
 * tests), a Blob download does nothing.
 */
function clickLink(name: string, href: string): void {
  const link = document.createElement('a');
  link.href = href;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
}

export function download(name: string, data: Blob | string, type = 'text/csv;charset=utf-8'): void {
  if (typeof URL.createObjectURL !== 'function') return;
  const url = URL.createObjectURL(typeof data === 'string' ? new Blob([data], { type }) : data);
  clickLink(name, url);
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function downloadDataUrl(name: string, dataUrl: string): void {
  clickLink(name, dataUrl);
}
