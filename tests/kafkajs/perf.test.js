// The kafkajs load test (perf/kafkajs/load.js) on a tiny workload against the
// real broker, so it cannot rot; full load runs stay out of the tests.
const { test } = require('node:test')
const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const path = require('node:path')
const { useBroker } = require('./harness')

const broker = useBroker(['--cores', '2', '--group-initial-rebalance-delay-ms', '0'])

test('perf/kafkajs/load.js runs producers and consumers and reports', () => {
  const script = path.join(__dirname, '../../perf/kafkajs/load.js')
  const result = spawnSync(process.execPath, [script, '--bootstrap', broker().brokers.join(','), '--topic', 'perf-tiny', '--messages', '2000', '--producers', '2', '--consumers', '2', '--size', '200', '--batch', '50'], {
    encoding: 'utf8',
    timeout: 120000,
  })
  assert.equal(result.status, 0, `load.js failed: ${result.stderr}`)
  const report = JSON.parse(result.stdout.split('\n').find((line) => line.startsWith('[{')))
  assert.deepEqual(report.map((row) => [row.what, row.messages]), [['produce (send latency)', 2000], ['consume (end-to-end)', 2000]])
  assert.ok(report.every((row) => row.messages_per_second > 0 && row.latency.max >= row.latency.p50))
})
