/**
 * The per-buyer timeline on a canvas, like the article's T+ms timeline: one row per buyer, bars for
 * thinking, waiting for a lock and holding it, marks for reads, writes, commits and the answer (green
 * success, red oversold, grey declined). Only the rows in view are drawn, so 10,000 buyers scroll
 * smoothly; the canvas repaints on scroll and resize.
 */
import { forwardRef, useCallback, useEffect, useImperativeHandle, useRef, useState } from 'react';
import type { BarKind, MarkKind, Timeline } from './timeline';

export const ROW_HEIGHT = 16;
const LABEL_WIDTH = 56;
const AXIS_HEIGHT = 22;
const MAX_VIEW_HEIGHT = 420;

/** Fixed colours (not CSS variables) so an exported PNG looks like the screen. */
export const COLORS: Record<BarKind | MarkKind | 'line' | 'axis' | 'label', string> = {
  think: '#cbd5e1',
  wait: '#f59e0b',
  lock: '#60a5fa',
  read: '#1e293b',
  write: '#7c3aed',
  commit: '#0e7490',
  ok: '#16a34a',
  oversold: '#dc2626',
  fail: '#94a3b8',
  error: '#b45309',
  unknown: '#a855f7',
  line: '#e2e8f0',
  axis: '#64748b',
  label: '#475569',
};

export interface TimelineHandle {
  /** The whole visible timeline as a PNG data URL. */
  toPng(): string | null;
}

export interface TimelineCanvasProps {
  readonly timeline: Timeline;
  /** Scale from history units to displayed units (µs → ms is 0.001). */
  readonly scale: number;
  readonly ariaLabel: string;
}

function niceStep(range: number, target: number): number {
  const raw = range / Math.max(1, target);
  const pow = 10 ** Math.floor(Math.log10(raw || 1));
  const n = raw / pow;
  return (n < 1.5 ? 1 : n < 3 ? 2 : n < 7 ? 5 : 10) * pow;
}

export const TimelineCanvas = forwardRef<TimelineHandle, TimelineCanvasProps>(function TimelineCanvas(
  { timeline, scale, ariaLabel },
  ref,
) {
  const scroller = useRef<HTMLDivElement>(null);
  const canvas = useRef<HTMLCanvasElement>(null);
  const [width, setWidth] = useState(800);
  const rows = timeline.rows;
  const viewHeight = Math.min(MAX_VIEW_HEIGHT, rows.length * ROW_HEIGHT + AXIS_HEIGHT + 4);

  const draw = useCallback(() => {
    const el = canvas.current;
    const ctx = el?.getContext('2d');
    if (!el || !ctx) return;
    const dpr = globalThis.devicePixelRatio || 1;
    el.width = Math.floor(width * dpr);
    el.height = Math.floor(viewHeight * dpr);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = '#ffffff';
    ctx.fillRect(0, 0, width, viewHeight);
    const scrollTop = scroller.current?.scrollTop ?? 0;
    const first = Math.floor(scrollTop / ROW_HEIGHT);
    const visible = Math.ceil((viewHeight - AXIS_HEIGHT) / ROW_HEIGHT) + 1;
    const span = Math.max(timeline.maxT, 1e-9);
    const plot = width - LABEL_WIDTH - 12;
    const x = (t: number) => LABEL_WIDTH + (t / span) * plot;
    // Axis with ticks in displayed units.
    ctx.font = '11px system-ui, sans-serif';
    ctx.fillStyle = COLORS.axis;
    ctx.strokeStyle = COLORS.line;
    const step = niceStep(span * scale, 8);
    for (let v = 0; v <= span * scale + 1e-9; v += step) {
      const px = x(v / scale);
      ctx.beginPath();
      ctx.moveTo(px, AXIS_HEIGHT - 4);
      ctx.lineTo(px, viewHeight);
      ctx.stroke();
      ctx.fillText(`T+${Number(v.toFixed(3))}`, px + 2, 12);
    }
    for (let r = 0; r < visible; r++) {
      const row = rows[first + r];
      if (!row) break;
      const top = AXIS_HEIGHT + r * ROW_HEIGHT - (scrollTop % ROW_HEIGHT);
      if (top < AXIS_HEIGHT - ROW_HEIGHT) continue;
      const mid = top + ROW_HEIGHT / 2;
      ctx.fillStyle = COLORS.label;
      ctx.fillText(`#${row.buyer}`, 4, mid + 4);
      ctx.strokeStyle = COLORS.line;
      ctx.beginPath();
      ctx.moveTo(x(row.start), mid);
      ctx.lineTo(x(row.end), mid);
      ctx.stroke();
      for (const bar of row.bars) {
        ctx.fillStyle = COLORS[bar.kind];
        const h = bar.kind === 'lock' ? 10 : 6;
        ctx.fillRect(x(bar.from), mid - h / 2, Math.max(1.5, x(bar.to) - x(bar.from)), h);
      }
      for (const mark of row.marks) {
        ctx.fillStyle = COLORS[mark.kind];
        const px = x(mark.at);
        if (mark.kind === 'read' || mark.kind === 'write' || mark.kind === 'commit') ctx.fillRect(px - 1, mid - 6, 2, 12);
        else {
          ctx.beginPath();
          ctx.arc(px, mid, 4, 0, Math.PI * 2);
          ctx.fill();
        }
      }
    }
  }, [rows, timeline.maxT, scale, width, viewHeight]);

  useEffect(() => {
    draw();
  }, [draw]);

  useEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const measure = () => setWidth(Math.max(320, el.clientWidth));
    measure();
    if (typeof ResizeObserver === 'undefined') return;
    const observer = new ResizeObserver(measure);
    observer.observe(el);
    return () => observer.disconnect();
  }, []);

  useImperativeHandle(ref, () => ({ toPng: () => canvas.current?.toDataURL('image/png') ?? null }), []);

  return (
    <div
      ref={scroller}
      className="sim-timeline"
      style={{ height: viewHeight, overflowY: 'auto', position: 'relative' }}
      onScroll={() => requestAnimationFrame(draw)}
      data-testid="sim-timeline"
      data-rows={rows.length}
    >
      <canvas
        ref={canvas}
        role="img"
        aria-label={ariaLabel}
        style={{ position: 'sticky', top: 0, width: '100%', height: viewHeight, display: 'block' }}
      />
      <div style={{ height: Math.max(0, rows.length * ROW_HEIGHT + AXIS_HEIGHT - viewHeight) }} aria-hidden="true" />
    </div>
  );
});
