export function ConnectionsPage() { return <h1>c</h1>; } export function ChannelsPage() { return <h1>c</h1>; } export function ConnectionPage(_p: {name: string}) { return <h1>c</h1>; }
