// The worker bundles this module: every workflow type SWOOSH registers is exported here.
export { missionWorkflow } from './mission/workflow';
export { agentJobWorkflow } from './agent-job';
export { jobReaperWorkflow } from './job-reaper';
export { timerShardWorkflow } from './timer-shard';
export { agentReportWorkflow } from './agent-report';
export { controlWorkflow } from './control';
