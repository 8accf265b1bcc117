/**
 * The scenario form: presets, engine, strategy, mode, crowd, timing, client retries, cache, and loading a
 * saved scenario. The engine choice appears only when the main process offers more than SQLite; until
 * then one line says how to get PostgreSQL and Redis.
 */
import { useRef, type ChangeEvent } from 'react';
import { useTranslation } from 'react-i18next';
import {
  deterministicOn,
  PRESET_IDS,
  strategiesOn,
  type Scenario,
  type SimEngine,
  type SimMode,
  type StrategyName,
} from '../../../shared/sim';
import { Button, Field, Input, Select, toast } from '../../components';
import { useSimulator } from './store';

function NumberField({
  label,
  value,
  onChange,
  min = 0,
  max,
  step = 1,
  testId,
}: {
  label: string;
  value: number;
  onChange: (v: number) => void;
  min?: number;
  max?: number;
  step?: number;
  testId?: string;
}) {
  return (
    <Field label={label}>
      <Input
        type="number"
        inputMode="numeric"
        value={String(value)}
        min={min}
        max={max}
        step={step}
        data-testid={testId}
        onChange={(event) => {
          const n = Number(event.target.value);
          if (event.target.value !== '' && Number.isFinite(n)) onChange(Math.max(min, max === undefined ? n : Math.min(max, n)));
        }}
      />
    </Field>
  );
}

function Check({ label, checked, onChange }: { label: string; checked: boolean; onChange: (v: boolean) => void }) {
  return (
    <label className="sim-check">
      <input type="checkbox" checked={checked} onChange={(e) => onChange(e.target.checked)} />
      <span>{label}</span>
    </label>
  );
}

/** The one line shown while an engine is missing: what to install and which variable to set. */
function engineHint(engines: readonly SimEngine[]): 'hintNone' | 'hintRedis' | null {
  if (engines.includes('redis')) return null;
  return engines.includes('postgres') ? 'hintRedis' : 'hintNone';
}

export function ScenarioForm() {
  const { t } = useTranslation('simulator');
  const { scenario: s, presetId, mode, engines, applyPreset, setScenario, setMode, setEngine, loadScenario } = useSimulator();
  const hint = engineHint(engines);
  const liveOnly = !deterministicOn(s.engine);
  const file = useRef<HTMLInputElement>(null);
  const set = (patch: Partial<Scenario>) => setScenario(patch);

  const onFile = async (event: ChangeEvent<HTMLInputElement>) => {
    const chosen = event.target.files?.[0];
    event.target.value = '';
    if (!chosen) return;
    const problem = loadScenario(await chosen.text());
    if (problem) toast.error(t('scenario.loadFailed', { reason: problem }));
    else toast.success(t('scenario.loaded', { name: useSimulator.getState().scenario.name }));
  };

  return (
    <div className="sim-form">
      <div className="sim-presets" role="group" aria-label={t('scenario.presets')}>
        {PRESET_IDS.map((id) => (
          <Button
            key={id}
            size="sm"
            variant={presetId === id ? 'primary' : 'secondary'}
            aria-pressed={presetId === id}
            onClick={() => applyPreset(id)}
            data-testid={`sim-preset-${id}`}
          >
            {t(`scenario.preset.${id}`)}
          </Button>
        ))}
        <Button size="sm" variant="ghost" onClick={() => file.current?.click()}>
          {t('scenario.load')}
        </Button>
        <input
          ref={file}
          type="file"
          accept="application/json,.json"
          hidden
          onChange={(e) => void onFile(e)}
          data-testid="sim-load"
        />
      </div>
      {hint ? (
        <p className="muted sim-engine-hint" data-testid="sim-engine-hint">
          {t(`engines.${hint}`)}
        </p>
      ) : null}
      <div className="sim-form__grid">
        {engines.length > 1 ? (
          <Field label={t('scenario.engine')} className="sim-form__wide">
            <Select
              value={s.engine}
              onChange={(e) => setEngine(e.target.value as SimEngine)}
              options={engines.map((v) => ({ value: v, label: t(`engine.${v}`) }))}
              data-testid="sim-engine"
            />
          </Field>
        ) : null}
        <Field label={t('scenario.strategy')} className="sim-form__wide">
          <Select
            value={s.strategy}
            onChange={(e) => set({ strategy: e.target.value as StrategyName })}
            options={strategiesOn(s.engine).map((v) => ({
              value: v,
              label: t([`strategyOn.${s.engine}.${v}`, `strategy.${v}`]),
            }))}
            data-testid="sim-strategy"
          />
        </Field>
        <Field label={t('scenario.mode')} className="sim-form__wide" {...(liveOnly ? { hint: t('scenario.liveOnly') } : {})}>
          <Select
            value={liveOnly ? 'live' : mode}
            disabled={liveOnly}
            onChange={(e) => setMode(e.target.value as SimMode)}
            options={(['live', 'deterministic'] as const).map((v) => ({ value: v, label: t(`scenario.modes.${v}`) }))}
            data-testid="sim-mode"
          />
        </Field>
        <NumberField
          label={t('scenario.buyers')}
          value={s.buyers}
          min={1}
          max={20000}
          onChange={(buyers) => set({ buyers })}
          testId="sim-buyers"
        />
        <NumberField
          label={t('scenario.keys')}
          value={s.keys}
          min={0}
          max={100000}
          onChange={(keys) => set({ keys })}
          testId="sim-keys"
        />
        <NumberField label={t('scenario.seed')} value={s.seed} min={0} max={2 ** 31 - 1} onChange={(seed) => set({ seed })} />
        <Field label={t('scenario.arrival')}>
          <Select
            value={s.arrival.kind}
            onChange={(e) => set({ arrival: { ...s.arrival, kind: e.target.value as 'burst' | 'spread' } })}
            options={(['burst', 'spread'] as const).map((v) => ({ value: v, label: t(`scenario.arrivals.${v}`) }))}
          />
        </Field>
        <NumberField
          label={t('scenario.windowMs')}
          value={s.arrival.windowMs}
          max={120000}
          onChange={(windowMs) => set({ arrival: { ...s.arrival, windowMs } })}
        />
        <Field label={t('scenario.think')}>
          <Select
            value={s.think.kind}
            onChange={(e) => set({ think: { ...s.think, kind: e.target.value as Scenario['think']['kind'] } })}
            options={(['fixed', 'uniform', 'exponential'] as const).map((v) => ({ value: v, label: t(`scenario.thinks.${v}`) }))}
          />
        </Field>
        <NumberField
          label={t('scenario.thinkMs')}
          value={s.think.ms}
          max={10000}
          onChange={(ms) => set({ think: { ...s.think, ms } })}
        />
        <NumberField
          label={t('scenario.thinkMaxMs')}
          value={s.think.maxMs}
          max={10000}
          onChange={(maxMs) => set({ think: { ...s.think, maxMs } })}
        />
        <NumberField label={t('scenario.workers')} value={s.workers} min={1} max={16} onChange={(workers) => set({ workers })} />
        <NumberField
          label={t('scenario.connections')}
          value={s.connectionsPerWorker}
          min={1}
          max={64}
          onChange={(connectionsPerWorker) => set({ connectionsPerWorker })}
        />
        <NumberField
          label={t('scenario.timeoutMs')}
          value={s.client.timeoutMs}
          max={120000}
          onChange={(timeoutMs) => set({ client: { ...s.client, timeoutMs } })}
        />
        <NumberField
          label={t('scenario.retries')}
          value={s.client.retries}
          max={5}
          onChange={(retries) => set({ client: { ...s.client, retries } })}
        />
        <NumberField
          label={t('scenario.cacheTtlMs')}
          value={s.cacheTtlMs}
          max={600000}
          onChange={(cacheTtlMs) => set({ cacheTtlMs })}
        />
        <NumberField
          label={t('scenario.leaseTtlMs')}
          value={s.leaseTtlMs}
          min={1}
          max={600000}
          onChange={(leaseTtlMs) => set({ leaseTtlMs })}
        />
      </div>
      <div className="sim-form__checks">
        <Check
          label={t('scenario.idempotencyKey')}
          checked={s.client.idempotencyKey}
          onChange={(idempotencyKey) => set({ client: { ...s.client, idempotencyKey } })}
        />
        <Check
          label={t('scenario.splitTransaction')}
          checked={s.splitTransaction}
          onChange={(splitTransaction) => set({ splitTransaction })}
        />
      </div>
    </div>
  );
}
