#!/usr/bin/env pwsh
# Build script for GenevaDrive.Hangfire.
#   ./build.ps1 [restore|build|test|pack|soak|bench|upgrade-bench] [benchmark arguments]   (default: test)
#   bench: GenevaDrive steps side by side with plain Hangfire jobs on a throwaway PostgreSQL (fsync on) and
#          SQLite; prints the ratios and writes artifacts/bench/bench-report.md. Not part of test.
#          bench children [count]: one parent's StartChildren of N one-step children (default 10,000) against one job
#          enqueueing N plain jobs, the parent's wake and the parent page's queries; writes artifacts/bench/children-report.md.
#   upgrade-bench: 1M workflows (4M step executions) at schema version 1 on a throwaway PostgreSQL (fsync on) and SQLite,
#          upgraded to the latest while a version-1 worker runs steps; writes artifacts/bench/upgrade-report.md. Not part of test.
#   soak: the chaos soak (several worker processes on a throwaway PostgreSQL, kill -9, kill -STOP, a database
#         restart); prints and writes artifacts/soak/soak-report.md. Not part of test.
# Every step prints what it runs and the script stops at the first failure.
[CmdletBinding(PositionalBinding = $false)]
param(
    [Parameter(Position = 0)]
    [ValidateSet('restore', 'build', 'test', 'pack', 'soak', 'bench', 'upgrade-bench')]
    [string] $Target = 'test',
    [string] $Configuration = 'Release',
    # What follows the target goes to the benchmark program: bench [repetitions] [postgresql|sqlite|all] [scale|noscale|scaleonly],
    # bench scaleout [workflows] [processes], bench children [count] [all|postgresql|sqlite],
    # upgrade-bench [all|postgresql|sqlite] [workflows].
    [Parameter(Position = 1, ValueFromRemainingArguments = $true)]
    [string[]] $BenchArguments = @()
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
$root = $PSScriptRoot
$solution = Join-Path $root 'GenevaDrive.Hangfire.sln'
$artifacts = Join-Path $root 'artifacts'

function Invoke-Step([string] $File, [string[]] $Arguments) {
    Write-Host "==> $File $($Arguments -join ' ')" -ForegroundColor Cyan
    & $File @Arguments | Out-Host
    if ($LASTEXITCODE -ne 0) { throw "'$File $($Arguments -join ' ')' failed with exit code $LASTEXITCODE." }
}

function Invoke-Restore { Invoke-Step 'dotnet' @('restore', $solution) }
function Invoke-Build { Invoke-Restore; Invoke-Step 'dotnet' @('build', $solution, '-c', $Configuration, '--no-restore') }

# A throwaway PostgreSQL cluster for the storage tests, used when GENEVADRIVE_TEST_POSTGRES is not set
# and the server binaries are installed. initdb refuses to run as root, so the cluster belongs to the
# 'postgres' user when we are root.
function Start-ThrowawayPostgres([switch] $Durable) {
    if ($env:GENEVADRIVE_TEST_POSTGRES) {
        Write-Host "==> using PostgreSQL from GENEVADRIVE_TEST_POSTGRES"
        return $null
    }
    $bin = Get-ChildItem '/usr/lib/postgresql/*/bin/initdb' -ErrorAction SilentlyContinue |
        Sort-Object FullName -Descending | Select-Object -First 1
    if (-not $bin) {
        Write-Host "==> no PostgreSQL binaries found; PostgreSQL tests will not run against a real server" -ForegroundColor Yellow
        return $null
    }
    $binDir = Split-Path $bin.FullName
    $dataDir = Join-Path ([IO.Path]::GetTempPath()) ("genevadrive-pg-" + [Guid]::NewGuid().ToString('N'))
    $listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
    $listener.Start(); $port = $listener.LocalEndpoint.Port; $listener.Stop()
    $isRoot = (& id -u) -eq '0'
    New-Item -ItemType Directory -Path $dataDir | Out-Null
    $run = {
        param([string] $exe, [string[]] $argv)
        if ($isRoot) { Invoke-Step 'runuser' (@('-u', 'postgres', '--', $exe) + $argv) } else { Invoke-Step $exe $argv }
    }.GetNewClosure()
    if ($isRoot) { Invoke-Step 'chown' @('postgres:postgres', $dataDir) }
    & $run (Join-Path $binDir 'initdb') @('-D', $dataDir, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8')
    # Tests trade durability for speed; the benchmark measures what production pays (fsync and synchronous commit on).
    $durability = if ($Durable) { '' } else { ' -c fsync=off -c synchronous_commit=off -c full_page_writes=off' }
    $options = "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$dataDir$durability -c max_connections=200"
    & $run (Join-Path $binDir 'pg_ctl') @('-D', $dataDir, '-o', $options, '-l', (Join-Path $dataDir 'server.log'), '-w', 'start')
    $env:GENEVADRIVE_TEST_POSTGRES = "Host=127.0.0.1;Port=$port;Username=postgres;Database=postgres"
    Write-Host "==> throwaway PostgreSQL on 127.0.0.1:$port ($dataDir)"
    return @{ BinDir = $binDir; DataDir = $dataDir; Run = $run; Port = $port }
}

function Stop-ThrowawayPostgres($pg) {
    if (-not $pg) { return }
    try { & $pg.Run (Join-Path $pg.BinDir 'pg_ctl') @('-D', $pg.DataDir, '-m', 'immediate', 'stop') }
    catch { Write-Host "warning: could not stop PostgreSQL: $_" -ForegroundColor Yellow }
    Remove-Item -Recurse -Force $pg.DataDir -ErrorAction SilentlyContinue
    Remove-Item Env:GENEVADRIVE_TEST_POSTGRES -ErrorAction SilentlyContinue
}

function Invoke-Test {
    Invoke-Build
    # The template test builds a new app from the packed packages, as a user would.
    $packages = Join-Path $artifacts 'test-packages'
    Remove-Item -Recurse -Force $packages -ErrorAction SilentlyContinue
    Invoke-Step 'dotnet' @('pack', $solution, '-c', $Configuration, '--no-build', '-o', $packages)
    $env:GENEVADRIVE_TEST_PACKAGES = $packages
    $pg = Start-ThrowawayPostgres
    try {
        $results = Join-Path $artifacts 'test-results'
        Remove-Item -Recurse -Force $results -ErrorAction SilentlyContinue
        try {
            Invoke-Step 'dotnet' @('test', $solution, '-c', $Configuration, '--no-build',
                '--logger', 'trx', '--results-directory', $results)
        }
        finally { Write-TestSummary $results }
    }
    finally { Stop-ThrowawayPostgres $pg }
}

# One plain closing line over every test assembly, read from the TRX files.
function Write-TestSummary([string] $ResultsDir) {
    $passed = 0; $failed = 0; $skipped = 0
    foreach ($trx in Get-ChildItem $ResultsDir -Filter '*.trx' -Recurse -ErrorAction SilentlyContinue) {
        $counters = ([xml](Get-Content -LiteralPath $trx.FullName -Raw)).TestRun.ResultSummary.Counters
        $passed += [int]$counters.passed; $failed += [int]$counters.failed + [int]$counters.error
        $skipped += [int]$counters.total - [int]$counters.executed
    }
    Write-Host "Tests: $passed passed, $failed failed, $skipped skipped"
}

function Invoke-Soak {
    Invoke-Build
    $pg = Start-ThrowawayPostgres
    if (-not $pg) { throw 'The soak restarts PostgreSQL itself, so it needs the server binaries (apt-get install postgresql); GENEVADRIVE_TEST_POSTGRES is not used.' }
    try {
        $env:GENEVADRIVE_SOAK_PG_BIN = $pg.BinDir
        $env:GENEVADRIVE_SOAK_PG_DATA = $pg.DataDir
        Invoke-Step 'dotnet' @('run', '--project', (Join-Path $root 'test/GenevaDrive.Hangfire.Soak'), '-c', $Configuration, '--no-build')
    }
    finally {
        Remove-Item Env:GENEVADRIVE_SOAK_PG_BIN, Env:GENEVADRIVE_SOAK_PG_DATA -ErrorAction SilentlyContinue
        Stop-ThrowawayPostgres $pg
    }
}

function Invoke-Bench {
    Invoke-Build
    $pg = Start-ThrowawayPostgres -Durable
    try {
        Invoke-Step 'dotnet' (@('run', '--project', (Join-Path $root 'test/GenevaDrive.Hangfire.Benchmarks'), '-c', $Configuration, '--no-build', '--') + $BenchArguments)
    }
    finally { Stop-ThrowawayPostgres $pg }
}

function Invoke-UpgradeBench {
    Invoke-Build
    $pg = Start-ThrowawayPostgres -Durable
    try {
        Invoke-Step 'dotnet' (@('run', '--project', (Join-Path $root 'test/GenevaDrive.Hangfire.Benchmarks'), '-c', $Configuration, '--no-build', '--', 'upgrade') + $BenchArguments)
    }
    finally { Stop-ThrowawayPostgres $pg }
}

function Invoke-Pack {
    Invoke-Build
    Invoke-Step 'dotnet' @('pack', $solution, '-c', $Configuration, '--no-build', '-o', (Join-Path $artifacts 'packages'))
}

switch ($Target) {
    'restore' { Invoke-Restore }
    'build' { Invoke-Build }
    'test' { Invoke-Test }
    'pack' { Invoke-Pack }
    'soak' { Invoke-Soak }
    'bench' { Invoke-Bench }
    'upgrade-bench' { Invoke-UpgradeBench }
}
Write-Host "==> $Target succeeded" -ForegroundColor Green
