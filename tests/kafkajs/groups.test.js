// Consumer groups with kafkajs 2.2.4 (and kcat's librdkafka balanced
// consumer) against the real corelog binary with two shards: groups are
// coordinated by whichever node owns their offsets partition.
const { test } = require('node:test')
const assert = require('node:assert/strict')
const { spawn } = require('node:child_process')
const path = require('node:path')
const { Kafka, logLevel } = require('kafkajs')
const { useBroker, waitFor, startConsumer } = require('./harness')

const broker = useBroker(['--cores', '2', '--group-initial-rebalance-delay-ms', '300'])

const client = (clientId = 'groups') => new Kafka({ clientId, brokers: [broker().brokers[0]], logLevel: logLevel.NOTHING })

async function withAdmin(kafka, use) {
  const admin = kafka.admin()
  await admin.connect()
  try {
    return await use(admin)
  } finally {
    await admin.disconnect()
  }
}

async function produce(kafka, topic, messages) {
  const producer = kafka.producer()
  await producer.connect()
  await producer.send({ topic, messages })
  await producer.disconnect()
}

const numbered = (from, to, partitions) =>
  [...Array(to - from).keys()].map((index) => ({ value: `m-${from + index}`, partition: (from + index) % partitions }))

const positions = (received) => received.map((r) => `${r.partition}:${r.offset}`)
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

test('two groups on one topic each receive every message from the beginning', async () => {
  const kafka = client()
  await withAdmin(kafka, (admin) => admin.createTopics({ topics: [{ topic: 'g-all', numPartitions: 2 }] }))
  await produce(kafka, 'g-all', numbered(0, 20, 2))
  const first = await startConsumer(kafka, { groupId: 'g-all-a', topic: 'g-all' })
  const second = await startConsumer(kafka, { groupId: 'g-all-b', topic: 'g-all' })
  await waitFor('both groups to read 20', () => first.received.length >= 20 && second.received.length >= 20)
  await sleep(500)
  for (const { received } of [first, second]) {
    assert.equal(received.length, 20)
    assert.deepEqual(received.map((r) => r.value).sort(), numbered(0, 20, 2).map((m) => m.value).sort())
  }
  await first.consumer.disconnect()
  await second.consumer.disconnect()
})

test('two consumers split a 2-partition topic; the survivor takes over with nothing lost or repeated', async () => {
  const kafka = client()
  await withAdmin(kafka, (admin) => admin.createTopics({ topics: [{ topic: 'g-split', numPartitions: 2 }] }))
  const one = await startConsumer(kafka, { groupId: 'g-split', topic: 'g-split' })
  await waitFor('the first member to own both partitions', () => one.assignments.length > 0)
  const two = await startConsumer(kafka, { groupId: 'g-split', topic: 'g-split' })
  const owned = (member) => (member.assignments.at(-1) || {})['g-split'] || []
  await waitFor('the partitions to split', () => owned(one).length === 1 && owned(two).length === 1)
  assert.notDeepEqual(owned(one), owned(two))

  await produce(kafka, 'g-split', numbered(0, 40, 2))
  await waitFor('40 messages between them', () => one.received.length + two.received.length >= 40)
  assert.equal(one.received.length, 20, 'each member reads only its own partition')
  assert.equal(two.received.length, 20)

  // A clean leave: offsets are committed, the group rebalances at once.
  await one.consumer.disconnect()
  await waitFor('the survivor to own both partitions', () => owned(two).length === 2)
  await produce(kafka, 'g-split', numbered(40, 80, 2))
  await waitFor('the rest', () => one.received.length + two.received.length >= 80)
  await sleep(1000)
  const all = positions([...one.received, ...two.received])
  assert.equal(new Set(all).size, all.length, 'no message read twice')
  const expected = [0, 1].flatMap((partition) => [...Array(40).keys()].map((offset) => `${partition}:${offset}`))
  assert.deepEqual(all.sort(), expected.sort(), 'every message read')
  await two.consumer.disconnect()
})

test('seek, pause and resume', async () => {
  const kafka = client()
  await withAdmin(kafka, (admin) => admin.createTopics({ topics: [{ topic: 'g-seek', numPartitions: 1 }] }))
  await produce(kafka, 'g-seek', numbered(0, 10, 1))
  const member = await startConsumer(kafka, { groupId: 'g-seek', topic: 'g-seek' })
  await waitFor('10 messages', () => member.received.length >= 10)
  member.consumer.seek({ topic: 'g-seek', partition: 0, offset: '5' })
  await waitFor('offsets 5-9 again', () => member.received.length >= 15)
  assert.deepEqual(member.received.slice(10).map((r) => r.offset), [5, 6, 7, 8, 9])

  member.consumer.pause([{ topic: 'g-seek' }])
  await sleep(300)
  await produce(kafka, 'g-seek', numbered(10, 15, 1))
  await sleep(1500)
  assert.equal(member.received.length, 15, 'nothing arrives while paused')
  member.consumer.resume([{ topic: 'g-seek' }])
  await waitFor('the 5 new messages after resume', () => member.received.length >= 20)
  assert.deepEqual(member.received.slice(15).map((r) => r.offset), [10, 11, 12, 13, 14])
  await member.consumer.disconnect()
})

test('auto and manual commits survive a broker restart; consumers resume after them', async () => {
  let kafka = client()
  await withAdmin(kafka, (admin) => admin.createTopics({ topics: [{ topic: 'g-commit', numPartitions: 1 }] }))
  await produce(kafka, 'g-commit', numbered(0, 10, 1))

  const auto = await startConsumer(kafka, { groupId: 'g-auto', topic: 'g-commit', run: { autoCommitInterval: 100 } })
  await waitFor('auto-commit consumer to read 10', () => auto.received.length >= 10)
  await auto.consumer.disconnect()

  // Manual: commit after message 5 (next offset 6) and stop there.
  const manual = kafka.consumer({ groupId: 'g-manual', maxWaitTimeInMs: 500 })
  const manualSeen = []
  await manual.connect()
  await manual.subscribe({ topic: 'g-commit', fromBeginning: true })
  await manual.run({
    autoCommit: false,
    eachMessage: async ({ topic, partition, message }) => {
      manualSeen.push(Number(message.offset))
      if (Number(message.offset) === 5) {
        await manual.commitOffsets([{ topic, partition, offset: '6' }])
      }
    },
  })
  await waitFor('manual consumer to read 10', () => manualSeen.length >= 10)
  await manual.disconnect()

  await broker().restart()
  kafka = client()
  const committed = await withAdmin(kafka, async (admin) => ({
    auto: await admin.fetchOffsets({ groupId: 'g-auto', topics: ['g-commit'] }),
    manual: await admin.fetchOffsets({ groupId: 'g-manual', topics: ['g-commit'] }),
  }))
  assert.equal(committed.auto[0].partitions[0].offset, '10')
  assert.equal(committed.manual[0].partitions[0].offset, '6')

  await produce(kafka, 'g-commit', numbered(10, 15, 1))
  const autoAgain = await startConsumer(kafka, { groupId: 'g-auto', topic: 'g-commit' })
  const manualAgain = await startConsumer(kafka, { groupId: 'g-manual', topic: 'g-commit' })
  await waitFor('both to catch up', () => autoAgain.received.length >= 5 && manualAgain.received.length >= 9)
  await sleep(1000)
  assert.deepEqual(autoAgain.received.map((r) => r.offset), [10, 11, 12, 13, 14], 'resumes after the last auto commit')
  assert.deepEqual(manualAgain.received.map((r) => r.offset), [6, 7, 8, 9, 10, 11, 12, 13, 14], 'resumes after the manual commit')
  await autoAgain.consumer.disconnect()
  await manualAgain.consumer.disconnect()
})

test('a member that stops heartbeating is expelled after its session timeout', async () => {
  const kafka = client()
  await withAdmin(kafka, (admin) => admin.createTopics({ topics: [{ topic: 'g-expire', numPartitions: 2 }] }))
  // The doomed member runs in its own process, killed with SIGKILL so it
  // neither leaves the group nor heartbeats again.
  const script = `
    const { Kafka, logLevel } = require('kafkajs')
    const kafka = new Kafka({ clientId: 'doomed', brokers: [process.argv[1]], logLevel: logLevel.NOTHING })
    const consumer = kafka.consumer({ groupId: 'g-expire', sessionTimeout: 6000, heartbeatInterval: 500, maxWaitTimeInMs: 500 })
    consumer.on(consumer.events.GROUP_JOIN, (event) => console.log(JSON.stringify(event.payload.memberAssignment)))
    consumer.connect().then(() => consumer.subscribe({ topic: 'g-expire', fromBeginning: true }))
      .then(() => consumer.run({ eachMessage: async () => {} }))
  `
  const doomed = spawn(process.execPath, ['-e', script, broker().brokers[0]], { cwd: __dirname, stdio: ['ignore', 'pipe', 'inherit'] })
  const doomedAssignments = []
  doomed.stdout.on('data', (chunk) => doomedAssignments.push(...chunk.toString().trim().split('\n').map((line) => JSON.parse(line))))
  const doomedExited = new Promise((resolve) => doomed.once('exit', resolve))
  try {
    await waitFor('the doomed member to join', () => doomedAssignments.length > 0)
    const survivor = await startConsumer(kafka, {
      groupId: 'g-expire',
      topic: 'g-expire',
      options: { sessionTimeout: 6000, heartbeatInterval: 500 },
    })
    const owned = () => (survivor.assignments.at(-1) || {})['g-expire'] || []
    await waitFor('the partitions to split', () => owned().length === 1)
    doomed.kill('SIGKILL')
    await doomedExited
    const killedAt = Date.now()
    await waitFor('the survivor to own both partitions', () => owned().length === 2, 30000)
    const took = Date.now() - killedAt
    assert.ok(took >= 4000, `expelled after ${took} ms: not before the session timeout`)
    const description = await withAdmin(kafka, (admin) => admin.describeGroups(['g-expire']))
    assert.equal(description.groups[0].members.length, 1)
    assert.equal(description.groups[0].state, 'Stable')
    await produce(kafka, 'g-expire', numbered(0, 10, 2))
    await waitFor('messages of both partitions', () => new Set(survivor.received.map((r) => r.partition)).size === 2)
    await survivor.consumer.disconnect()
  } finally {
    doomed.kill('SIGKILL')
  }
})

test('kcat -G (librdkafka) and a kafkajs consumer in another group both read everything', async () => {
  const kafka = client()
  await withAdmin(kafka, (admin) => admin.createTopics({ topics: [{ topic: 'g-kcat', numPartitions: 2 }] }))
  await produce(kafka, 'g-kcat', numbered(0, 30, 2))
  const kcat = spawn('timeout', ['60', 'kcat', '-b', broker().brokers[0], '-G', 'g-kcat-librdkafka', '-X', 'auto.offset.reset=earliest', '-e', '-q', '-f', '%p|%o|%s\n', 'g-kcat'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let kcatOut = ''
  let kcatErr = ''
  kcat.stdout.on('data', (chunk) => (kcatOut += chunk))
  kcat.stderr.on('data', (chunk) => (kcatErr += chunk))
  const kcatDone = new Promise((resolve) => kcat.once('exit', resolve))
  const js = await startConsumer(kafka, { groupId: 'g-kcat-kafkajs', topic: 'g-kcat' })
  assert.equal(await kcatDone, 0, `kcat failed: ${kcatErr}`)
  await waitFor('kafkajs to read 30', () => js.received.length >= 30)
  const kcatValues = kcatOut.split('\n').filter((line) => line).map((line) => line.split('|')[2])
  const expected = numbered(0, 30, 2).map((m) => m.value).sort()
  assert.deepEqual(kcatValues.sort(), expected)
  assert.deepEqual(js.received.map((r) => r.value).sort(), expected)
  // The librdkafka group committed what it read.
  const offsets = await withAdmin(kafka, (admin) => admin.fetchOffsets({ groupId: 'g-kcat-librdkafka', topics: ['g-kcat'] }))
  assert.deepEqual(offsets[0].partitions.map((p) => p.offset).sort(), ['15', '15'])
  await js.consumer.disconnect()
})

test('admin: listGroups, describeGroups, lag from fetchOffsets, setOffsets, deleteGroups', async () => {
  const kafka = client()
  await withAdmin(kafka, (admin) => admin.createTopics({ topics: [{ topic: 'g-admin', numPartitions: 2 }] }))
  await produce(kafka, 'g-admin', numbered(0, 10, 2))
  const member = await startConsumer(kafka, { groupId: 'g-admin', topic: 'g-admin', run: { autoCommitInterval: 100 } })
  await waitFor('10 messages', () => member.received.length >= 10)
  await withAdmin(kafka, async (admin) => {
    const { groups } = await admin.listGroups()
    assert.ok(groups.some((g) => g.groupId === 'g-admin' && g.protocolType === 'consumer'))
    const described = (await admin.describeGroups(['g-admin'])).groups[0]
    assert.equal(described.state, 'Stable')
    assert.equal(described.protocol, 'RoundRobinAssigner')
    assert.equal(described.members.length, 1)
    assert.equal(described.members[0].clientId, 'groups')
    assert.ok(described.members[0].memberAssignment.length > 0, 'assignment shown')

    // A group with members cannot be deleted or reset.
    await assert.rejects(admin.deleteGroups(['g-admin']))
    await member.consumer.disconnect()

    const high = await admin.fetchTopicOffsets('g-admin')
    const committed = await admin.fetchOffsets({ groupId: 'g-admin', topics: ['g-admin'] })
    const lag = committed[0].partitions.map((p) => Number(high.find((h) => h.partition === p.partition).high) - Number(p.offset))
    assert.deepEqual(lag, [0, 0], 'nothing left to read')

    // setOffsets on an empty group: a commit outside group management.
    await admin.setOffsets({ groupId: 'g-admin', topic: 'g-admin', partitions: [{ partition: 0, offset: '2' }, { partition: 1, offset: '3' }] })
    const reset = await admin.fetchOffsets({ groupId: 'g-admin', topics: ['g-admin'] })
    assert.deepEqual(reset[0].partitions.sort((a, b) => a.partition - b.partition).map((p) => p.offset), ['2', '3'])
    const emptyState = (await admin.describeGroups(['g-admin'])).groups[0]
    assert.equal(emptyState.state, 'Empty')

    const deleted = await admin.deleteGroups(['g-admin'])
    assert.equal(deleted[0].errorCode, 0)
    const gone = await admin.fetchOffsets({ groupId: 'g-admin', topics: ['g-admin'] })
    assert.deepEqual(gone[0].partitions.map((p) => p.offset), ['-1', '-1'])
    assert.ok(!(await admin.listGroups()).groups.some((g) => g.groupId === 'g-admin'))
  })
})
