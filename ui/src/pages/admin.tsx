export function AdminPage(_p: any) { return <h1>AdminPage</h1>; }
