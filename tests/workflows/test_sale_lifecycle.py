"""The expiry watcher (AGENT-5/6, EXP-2), deduplication, continue-as-new, the dispersal window,
operator cancellation and inspection (search attributes, queries)."""

from sales.api import Activity, SaleSettings, SaleSignal
from sales.dispersal import DispersalWindow, eligible_at
from sales.models import RequestState
from tests.workflows.conftest import Sale, SaleRunner, eventually
from tests.workflows.fakes import HOST, FakeSale, Gate, an_availability, make_request
from workflows import search_attributes as sa
from workflows.sale_state import StateName, Watcher


async def parked(sales: SaleRunner) -> Sale:
    """A sale waiting on a long durable timer (the dispersal window), past its expiry."""
    window = DispersalWindow(initial_bits=0, window_percent=10_000)
    sale = await sales.start(settings=SaleSettings(dispersal=window))

    async def waiting() -> bool:
        return await sale.state() == StateName.SLOT_RESERVING

    await eventually(waiting)
    return sale


async def test_agent_5_expiry_confirmed_cancelled_on_chain(sales: SaleRunner) -> None:
    """AGENT-5: at expiry + 1 the watcher reads the chain; New polls again, Cancelled cancels."""
    sale = await parked(sales)
    fake = sale.fake
    reads = len(fake.payloads(Activity.MARKET_SLOT_STATUS))

    async def polled_while_new() -> bool:
        return len(fake.payloads(Activity.MARKET_SLOT_STATUS)) >= reads + 2

    await eventually(polled_while_new, env=sale.env)  # expiry passed, still New: polls again
    assert await sale.state() == StateName.SLOT_RESERVING
    fake.request_state = RequestState.Cancelled
    outcome = await sale.result()
    assert outcome.state == StateName.CANCELLED
    assert Activity.MARKET_RESERVE_SLOT not in fake.names()


async def test_agent_5_started_request_stops_the_watcher(sales: SaleRunner) -> None:
    """AGENT-5: Started at expiry stops watching without an event."""
    sale = await parked(sales)
    sale.fake.request_state = RequestState.Started

    async def watcher_done() -> bool:
        return (await sale.data()).watcher == Watcher.DONE

    await eventually(watcher_done, env=sale.env)
    assert await sale.state() == StateName.SLOT_RESERVING
    assert (await sale.result()).state == StateName.FINISHED


async def test_agent_6_fulfilled_stops_the_watcher(sales: SaleRunner) -> None:
    """AGENT-6: RequestFulfilled stops the watcher; a later on-chain Cancelled has no effect."""
    fake = FakeSale(availability=an_availability())
    fake.gates[Activity.STORE_ON_STORE] = gate = Gate()
    sale = await sales.start(fake)
    await sale.held(Activity.STORE_ON_STORE)
    await sale.signal(SaleSignal.REQUEST_FULFILLED)
    assert (await sale.data()).watcher == Watcher.DONE
    fake.request_state = RequestState.Cancelled
    gate.open()
    assert (await sale.result()).state == StateName.FINISHED


async def test_events_are_deduplicated_and_filtered(sales: SaleRunner) -> None:
    """ChainEvent.key deduplicates; another request's or slot's events are ignored (AGENT-7/8)."""
    fake = FakeSale(availability=an_availability())
    fake.gates[Activity.STORE_ON_STORE] = gate = Gate()
    sale = await sales.start(fake)
    await sale.held(Activity.STORE_ON_STORE)
    await sale.signal(SaleSignal.SLOT_FILLED, key="0xa:1", slot_index=3)  # other slot
    await sale.signal(SaleSignal.REQUEST_CANCELLED, key="0xa:1")  # a replayed duplicate
    await sale.signal(SaleSignal.REQUEST_FULFILLED, key="0xb:1")  # in order after it
    assert await sale.state() == StateName.DOWNLOADING
    gate.open()
    outcome = await sale.result()
    assert outcome.state == StateName.FINISHED
    assert (await sale.data()).seen_events == ["0xa:1", "0xb:1"]


async def test_proving_continues_as_new_and_keeps_its_state(sales: SaleRunner) -> None:
    """Continue-as-new every `periods_per_run` periods; counters, release and reservation carry."""
    fake = FakeSale(availability=an_availability(), request=make_request(duration=80))
    sale = await sales.start(fake, settings=SaleSettings(periods_per_run=2))
    outcome = await sale.result()
    assert outcome.state == StateName.FINISHED
    data = await sale.data()
    assert data.runs >= 3
    assert outcome.periods >= 6
    assert outcome.proofs_submitted == outcome.periods
    assert len(await sale.released()) == 1  # exactly once across runs
    assert len(fake.payloads(Activity.LEDGER_CLOSE_RESERVATION)) == 1


async def test_dispersal_window_waits_until_eligible(sales: SaleRunner) -> None:
    """ARCHITECTURE §5: a host outside the window sleeps until `eligible_at`, then reserves."""
    window = DispersalWindow(initial_bits=0, window_percent=100)
    request = make_request(expiry=600, duration=30)
    fake = FakeSale(availability=an_availability(), request=request)
    sale = await sales.start(fake, settings=SaleSettings(dispersal=window))
    at = eligible_at(window, (await sale.data()).slot_id, HOST, fake.created_at, request.expiry)
    assert at > fake.created_at  # this host really has to wait
    outcome = await sale.result()
    assert outcome.state == StateName.FINISHED
    [reserve] = [i for i, (n, _) in enumerate(fake.calls) if n == Activity.MARKET_RESERVE_SLOT]
    assert reserve > 0


async def test_operator_cancel_cleans_up_then_reports_cancelled(sales: SaleRunner) -> None:
    """The run loop owns cancellation: a workflow cancel cleans up like an error."""
    from temporalio.client import WorkflowFailureError

    fake = FakeSale(availability=an_availability())
    fake.gates[Activity.STORE_ON_STORE] = Gate()
    sale = await sales.start(fake)
    await sale.held(Activity.STORE_ON_STORE)
    await sale.handle.cancel()  # reaches the download through its heartbeat
    try:
        await sale.result()
        raise AssertionError("expected a cancelled workflow")
    except WorkflowFailureError:
        pass
    [close] = fake.payloads(Activity.LEDGER_CLOSE_RESERVATION)
    assert close.returned_collateral == 300
    assert len(await sale.released()) == 1


async def test_search_attributes_and_details_follow_the_state(sales: SaleRunner) -> None:
    """ARCHITECTURE §3 inspection: typed search attributes per transition."""
    fake = FakeSale(availability=an_availability())
    fake.gates[Activity.STORE_ON_STORE] = gate = Gate()
    sale = await sales.start(fake)
    await sale.held(Activity.STORE_ON_STORE)
    described = await sale.handle.describe()
    attributes = described.typed_search_attributes
    assert attributes.get(sa.SALE_STATE) == StateName.DOWNLOADING
    assert attributes.get(sa.REQUEST_ID) == fake.request.id
    assert attributes.get(sa.SLOT_INDEX) == 0
    assert attributes.get(sa.AVAILABILITY_ID) == an_availability().id
    gate.open()
    await sale.result()
    final = (await sale.handle.describe()).typed_search_attributes
    assert final.get(sa.SALE_STATE) == StateName.FINISHED
