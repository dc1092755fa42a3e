/**
 * A zod transcription of Grafana's dashboard schema (the "v0" classic JSON model, as defined in
 * grafana/grafana `kinds/dashboard/dashboard_kind.cue`) for the fields a file-provisioned dashboard
 * must get right: required fields, enums and numeric ranges of the dashboard, its panels (incl.
 * rows), grid positions, field config, template variables and annotations. Datasource-specific
 * target fields are open in Grafana's schema (`#Target: {...}`); for Prometheus targets the test
 * adds what the Prometheus datasource needs (`refId`, `expr`). No official JSON schema package is
 * available offline, so this stands in for it.
 */
import { z } from 'zod';

const uint32 = z.number().int().min(0).max(0xffff_ffff);

export const DataSourceRefSchema = z.object({ type: z.string().optional(), uid: z.string().optional() });

export const GridPosSchema = z
  .object({
    h: uint32.min(1),
    w: uint32.min(1).max(24),
    x: uint32.max(23),
    y: uint32,
    static: z.boolean().optional(),
  })
  .refine((g) => g.x + g.w <= 24, { message: 'panel extends past the 24-column grid' });

const ThresholdsConfigSchema = z.object({
  mode: z.enum(['absolute', 'percentage']),
  steps: z.array(z.object({ value: z.number().nullable().optional(), color: z.string() })),
});

const FieldConfigSchema = z.object({
  displayName: z.string().optional(),
  description: z.string().optional(),
  unit: z.string().optional(),
  decimals: z.number().optional(),
  min: z.number().optional(),
  max: z.number().optional(),
  mappings: z.array(z.object({ type: z.enum(['value', 'range', 'regex', 'special']) })).optional(),
  thresholds: ThresholdsConfigSchema.optional(),
  color: z.object({ mode: z.string(), fixedColor: z.string().optional() }).optional(),
  noValue: z.string().optional(),
  custom: z.record(z.string(), z.unknown()).optional(),
});

const FieldConfigSourceSchema = z.object({
  defaults: FieldConfigSchema,
  overrides: z.array(
    z.object({
      matcher: z.object({ id: z.string(), options: z.unknown().optional() }),
      properties: z.array(z.object({ id: z.string(), value: z.unknown().optional() })),
    }),
  ),
});

/** `#Target: {...}`: open in Grafana; every target needs a unique `refId` within its panel. */
export const TargetSchema = z.looseObject({
  refId: z.string().min(1),
  datasource: DataSourceRefSchema.optional(),
});

export const PanelSchema = z.looseObject({
  type: z
    .string()
    .min(1)
    .refine((t) => t !== 'row', 'rows are RowPanels'),
  id: uint32,
  title: z.string().optional(),
  description: z.string().optional(),
  pluginVersion: z.string().optional(),
  tags: z.array(z.string()).optional(),
  targets: z.array(TargetSchema).optional(),
  transparent: z.boolean(),
  datasource: DataSourceRefSchema.optional(),
  gridPos: GridPosSchema,
  repeat: z.string().optional(),
  repeatDirection: z.enum(['h', 'v']),
  maxDataPoints: z.number().optional(),
  transformations: z.array(
    z.object({ id: z.string(), disabled: z.boolean().optional(), options: z.unknown() }),
  ),
  interval: z.string().optional(),
  timeFrom: z.string().optional(),
  timeShift: z.string().optional(),
  options: z.record(z.string(), z.unknown()),
  fieldConfig: FieldConfigSourceSchema,
});

export const RowPanelSchema = z.object({
  type: z.literal('row'),
  collapsed: z.boolean(),
  title: z.string().optional(),
  datasource: DataSourceRefSchema.optional(),
  gridPos: GridPosSchema,
  id: uint32,
  panels: z.array(PanelSchema),
  repeat: z.string().optional(),
});

export const VariableModelSchema = z.looseObject({
  type: z.enum(['query', 'adhoc', 'constant', 'datasource', 'interval', 'textbox', 'custom', 'system']),
  name: z.string().min(1),
  label: z.string().optional(),
  hide: z.union([z.literal(0), z.literal(1), z.literal(2)]),
  skipUrlSync: z.boolean(),
  description: z.string().optional(),
  query: z.union([z.string(), z.record(z.string(), z.unknown())]).optional(),
  datasource: DataSourceRefSchema.optional(),
});

export const AnnotationQuerySchema = z.looseObject({
  name: z.string(),
  datasource: DataSourceRefSchema,
  enable: z.boolean(),
  hide: z.boolean().optional(),
  iconColor: z.string(),
  type: z.string().optional(),
});

export const DashboardSchema = z.object({
  id: z.number().int().nullable().optional(),
  uid: z
    .string()
    .min(8)
    .max(40)
    .regex(/^[a-zA-Z0-9_-]+$/),
  title: z.string().min(1),
  description: z.string().optional(),
  tags: z.array(z.string()).optional(),
  style: z.enum(['light', 'dark']),
  timezone: z.string().optional(),
  editable: z.boolean(),
  graphTooltip: z.union([z.literal(0), z.literal(1), z.literal(2)]),
  time: z.object({ from: z.string(), to: z.string() }).optional(),
  timepicker: z
    .object({
      hidden: z.boolean().optional(),
      refresh_intervals: z.array(z.string()).optional(),
      collapse: z.boolean().optional(),
      enable: z.boolean().optional(),
      time_options: z.array(z.string()).optional(),
    })
    .optional(),
  fiscalYearStartMonth: z.number().int().min(0).max(11).optional(),
  liveNow: z.boolean().optional(),
  weekStart: z.string().optional(),
  refresh: z.union([z.string(), z.literal(false)]).optional(),
  schemaVersion: z.number().int().min(0).max(0xffff),
  version: uint32.optional(),
  panels: z.array(z.union([RowPanelSchema, PanelSchema])),
  templating: z.object({ list: z.array(VariableModelSchema).optional() }).optional(),
  annotations: z.object({ list: z.array(AnnotationQuerySchema).optional() }).optional(),
  links: z.array(z.unknown()).optional(),
});
export type Dashboard = z.infer<typeof DashboardSchema>;
export type RowPanel = z.infer<typeof RowPanelSchema>;
