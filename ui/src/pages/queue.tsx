export function QueuePage(_p: any) { return <h1>QueuePage</h1>; }
