/**
 * Shared output of the benchmarks: the machine, a table, and one `RESULT` line per figure.
 */
import { cpus, loadavg, totalmem } from 'node:os'

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

export function machine(): string {
  const cpu = cpus()
  return `${cpu[0]?.model ?? 'unknown CPU'} x${cpu.length}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}, load ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`
}

export function printTable(
  title: string,
  host: string,
  rows: Array<[string, number, string]>,
): void {
  console.log(`\n${title}\nmachine: ${host}\n`)
  const width = Math.max(...rows.map(([name]) => name.length))
  for (const [name, value, unit] of rows) {
    const shown = unit ? Math.round(value).toLocaleString('en-US') : value.toFixed(3)
    console.log(`  ${name.padEnd(width)}  ${shown.padStart(10)} ${unit}`)
  }
  console.log('')
}

/** The machine-readable line scripts read: `RESULT name=<bench>.<figure> value=<number> unit=<unit>`. */
export function result(name: string, value: number, unit: string): void {
  console.log(
    `RESULT name=${name} value=${unit === 'ratio' ? value.toFixed(4) : value.toFixed(1)} unit=${unit}`,
  )
}
