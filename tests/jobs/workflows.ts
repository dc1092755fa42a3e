// The worker in the job runner tests bundles this module: the two job workflows, as
// workflows/index.ts will export them.
export { agentJobWorkflow } from '../../workflows/agent-job';
export { jobReaperWorkflow } from '../../workflows/job-reaper';
