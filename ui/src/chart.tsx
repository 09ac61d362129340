// Live line charts with uPlot: a few KiB, canvas drawing, redrawn in place as samples arrive.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { useEffect, useRef, useState } from 'preact/hooks';
import { num } from './format';

export interface Series { label: string; color: string }

/** Samples kept client-side: [time (s), ...one value per series]. */
export type Samples = number[][];

const PALETTE = ['#2563eb', '#16a34a', '#d97706', '#db2777', '#7c3aed', '#0891b2', '#dc2626', '#65a30d'];
export function color(i: number): string { return PALETTE[i % PALETTE.length]; }

function themeColors() {
  const cs = getComputedStyle(document.documentElement);
  return { fg: cs.getPropertyValue('--muted').trim() || '#666', grid: cs.getPropertyValue('--grid').trim() || '#ddd' };
}

/** The chart window chosen on the overview (seconds), used by every live chart. */
export function chartWindow(): number { return Number(localStorage.getItem('warren.window') ?? 60) || 60; }

function timeLabel(sec: number, windowS: number): string {
  return new Date(sec * 1000).toLocaleTimeString([], windowS > 300 ? { hour: '2-digit', minute: '2-digit', hour12: false } : { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
}

export function LiveChart({ title, series, samples, unit, windowS }: { title: string; series: Series[]; samples: Samples; unit: string; windowS: number }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  // Axis and grid colours come from the theme: redraw when light/dark changes.
  const [dark, setDark] = useState(() => matchMedia('(prefers-color-scheme: dark)').matches);
  useEffect(() => {
    const mq = matchMedia('(prefers-color-scheme: dark)');
    const on = () => setDark(mq.matches);
    mq.addEventListener('change', on);
    return () => mq.removeEventListener('change', on);
  }, []);

  const data = (): uPlot.AlignedData => {
    const cols: number[][] = [[], ...series.map(() => [])];
    for (const s of samples) s.forEach((v, i) => cols[i].push(v));
    return cols as uPlot.AlignedData;
  };

  useEffect(() => {
    const el = box.current!;
    const t = themeColors();
    const axis = { stroke: t.fg, grid: { stroke: t.grid, width: 1 }, ticks: { stroke: t.grid, width: 1 } };
    const opts: uPlot.Options = {
      width: Math.max(el.clientWidth, 200),
      height: 180,
      // Our own legend below shows the latest values (uPlot's shows the cursor's only).
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(max * 1.1, 1)] } },
      axes: [
        { ...axis, space: 70, values: (_u, vals) => vals.map((v) => timeLabel(v, windowS)) },
        { ...axis, size: 50, values: (_u, vals) => vals.map((v) => num(v) + unit) },
      ],
      series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 2, points: { show: (u: uPlot) => u.data[0].length < 3 } }))],  // a lone sample shows as a dot

    };
    const u = new uPlot(opts, data(), el);
    plot.current = u;
    u.setScale('x', { min: Date.now() / 1000 - windowS, max: Date.now() / 1000 });
    const ro = new ResizeObserver(() => u.setSize({ width: Math.max(el.clientWidth, 200), height: 180 }));
    ro.observe(el);
    return () => { ro.disconnect(); u.destroy(); plot.current = null; };
  }, [series.map((s) => s.label).join(), unit, windowS, dark]);

  useEffect(() => {
    const u = plot.current;
    if (!u) return;
    u.setData(data(), false);
    const now = Date.now() / 1000;
    u.setScale('x', { min: now - windowS, max: now });
  }, [samples, windowS]);

  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <div ref={box} class="chart-box" role="img" aria-label={`${title}: ${series.map((s, i) => `${s.label} ${num(samples.at(-1)?.[i + 1] ?? 0)}${unit}`).join(', ')}`} />
      <ul class="legend" aria-hidden="true">
        {series.map((s, i) => (
          <li key={s.label}><span class="swatch" style={{ background: s.color }} />{s.label} <strong>{num(samples.at(-1)?.[i + 1] ?? 0)}{unit}</strong></li>
        ))}
      </ul>
    </figure>
  );
}
