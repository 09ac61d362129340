export function QueuesPage(_p: any) { return <h1>QueuesPage</h1>; }
