// Starts the real corelog binary on ephemeral loopback ports with a temp data
// dir, and restarts it on the same data dir. Ports change on each start, so
// callers make new kafkajs clients from `brokers` after a restart.
const { spawn } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const readline = require('node:readline')
const assert = require('node:assert/strict')
const { before, after } = require('node:test')

const binary = process.env.CORELOG_BIN || path.join(__dirname, '../../target/release/corelog')

class Broker {
  constructor(args) {
    this.args = args
    this.dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'corelog-kafkajs-'))
    this.brokers = []
    this.process = null
  }

  async start() {
    const brokers = []
    this.process = spawn(binary, ['serve', '--data-dir', this.dataDir, '--listen', '127.0.0.1:0', '--advertise', '127.0.0.1', ...this.args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    const lines = readline.createInterface({ input: this.process.stdout })
    await new Promise((resolve, reject) => {
      this.process.once('exit', (code) => reject(new Error(`corelog exited with ${code} before ready`)))
      lines.on('line', (line) => {
        const node = line.match(/^corelog: node \d+ listening on (.+)$/)
        if (node) brokers.push(node[1])
        if (line.startsWith('corelog: ready')) resolve()
      })
    })
    this.brokers = brokers
  }

  // SIGTERM and wait: resolves with the exit code (0 for a clean shutdown).
  async stop() {
    const exited = new Promise((resolve) => this.process.once('exit', resolve))
    this.process.kill('SIGTERM')
    return exited
  }

  async restart() {
    const code = await this.stop()
    if (code !== 0) throw new Error(`corelog exited with ${code}`)
    await this.start()
  }

  remove() {
    fs.rmSync(this.dataDir, { recursive: true, force: true })
  }
}

async function startBroker(args) {
  const broker = new Broker(args)
  await broker.start()
  return broker
}

// Registers hooks that start a broker with `args` before the file's tests
// and stop it after them, asserting a clean shutdown. Returns a function
// that gives the running broker (its ports change at each restart).
function useBroker(args) {
  let broker
  before(async () => {
    broker = await startBroker(args)
  })
  after(async () => {
    assert.equal(await broker.stop(), 0, 'clean shutdown')
    broker.remove()
  })
  return () => broker
}

// Resolves once check() is true, polling; rejects with `what` after timeoutMs.
async function waitFor(what, check, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

// A consumer in `groupId` that records every message it gets, in order.
async function startConsumer(kafka, { groupId, topic, fromBeginning = true, options = {}, run = {} }) {
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 500, ...options })
  const received = []
  const assignments = []
  consumer.on(consumer.events.GROUP_JOIN, (event) => assignments.push(event.payload.memberAssignment))
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning })
  await consumer.run({
    ...run,
    eachMessage: async ({ partition, message }) => {
      received.push({ partition, offset: Number(message.offset), key: message.key && message.key.toString(), value: message.value.toString() })
    },
  })
  return { consumer, received, assignments }
}

// Reads `count` messages of `topic` from the beginning in a fresh group.
async function consumeFromBeginning(kafka, { groupId, topic, count }) {
  const { consumer, received } = await startConsumer(kafka, { groupId, topic })
  try {
    await waitFor(`${count} messages of ${topic}`, () => received.length >= count, 60000)
  } finally {
    await consumer.disconnect()
  }
  return received
}

module.exports = { useBroker, waitFor, startConsumer, consumeFromBeginning }
