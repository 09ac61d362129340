export function ExchangesPage(_p: any) { return <h1>ExchangesPage</h1>; }
