// The workflows the timer tests (and the timer benchmark) bundle.
export { timerShardWorkflow } from '../../workflows/timer-shard';
export { approvalTargetWorkflow, sleepUntilWorkflow } from './support/test-workflows';
